// A page of six components on one Rewind client, each keeping its own list
// of processed ids (TestBrowserSharedSubscriptions):
//   A and B: the same subscription with the plain client: one upstream,
//     one cursor, and each gets every event;
//   C and D: that subscription through Apollo Client and through urql
//     (Apollo's document has __typename added: another operation);
//   E and F: two operations that share their name, Follow, and their
//     variables, their topics written inline: a cursor each.
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Client, fetchExchange } from '@urql/core';
import { rewindLink } from '../../dist/apollo.js';
import { rewindExchange } from '../../dist/urql.js';
import { rewind, server, topics, zero, component, failed, followText } from './app.js';

const variables = { topics, afterId: zero };
const sink = (process) => ({ next: ({ data }) => process(data.events), error: failed, complete() {} });

rewind.subscribe({ query: followText, variables }, sink(component('A')));
rewind.subscribe({ query: followText, variables }, sink(component('B')));

const apollo = new ApolloClient({ link: rewindLink(rewind, new HttpLink({ uri: server })), cache: new InMemoryCache() });
apollo.subscribe({ query: gql(followText), variables }).subscribe({
  next: ({ data, error }) => (error ? failed(error) : component('C')(data.events)),
});
const urql = new Client({ url: server, exchanges: [fetchExchange, rewindExchange(rewind)] });
urql.subscription(followText, variables).subscribe((result) =>
  result.error ? failed(result.error.networkError ?? result.error) : component('D')(result.data.events));

const base = topics[0].replace(/\.>$/, '');
const inline = (sub) => `subscription Follow($afterId: ID) {
  events(topics: ["${base}.${sub}"], afterId: $afterId) { id topic data live }
}`;
rewind.subscribe({ query: inline(0), variables: { afterId: zero } }, sink(component('E')));
rewind.subscribe({ query: inline(1), variables: { afterId: zero } }, sink(component('F')));
document.title = 'twins ready';
