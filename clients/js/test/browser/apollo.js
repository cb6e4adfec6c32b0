// Apollo Client v4 with Rewind's link: the app's code has no cursor in it.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { rewindLink } from '../../dist/apollo.js';
import { rewind, server, topics, zero, processed, failed, followText } from './app.js';

const client = new ApolloClient({
  link: rewindLink(rewind, new HttpLink({ uri: server })),
  cache: new InMemoryCache(),
});

client.subscribe({ query: gql(followText), variables: { topics, afterId: zero } }).subscribe({
  next: ({ data, error }) => (error ? failed(error) : processed(data.events)),
  error: failed,
});
document.title = 'apollo ready';
