// A page that follows with the README's snippet for its integration
// (?lib=plain, apollo or urql) of handling a CursorError: forget the
// cursor, clear the state, start again from the last 100 events
// (TestBrowserCursorErrors).
import { ApolloClient, HttpLink, InMemoryCache, gql } from '@apollo/client';
import { Client, fetchExchange } from '@urql/core';
import { CursorError } from '../../dist/index.js';
import { rewindLink } from '../../dist/apollo.js';
import { rewindExchange } from '../../dist/urql.js';
import plain from 'readme:cursor-error-plain';
import apolloSnippet from 'readme:cursor-error-apollo';
import urqlSnippet from 'readme:cursor-error-urql';
import { rewind, server, topics, zero, processed, failed } from './app.js';

const FOLLOW = `subscription Follow($topics: [String!]!, $afterId: ID, $last: Int) {
  events(topics: $topics, afterId: $afterId, last: $last) { id topic data live }
}`;

// Which keys the snippet reset, kept across reloads like the app's state.
const resetCursor = rewind.resetCursor;
rewind.resetCursor = (key) => {
  localStorage.setItem('resets', JSON.stringify([...JSON.parse(localStorage.getItem('resets') ?? '[]'), key]));
  return resetCursor(key);
};
window.resets = () => JSON.parse(localStorage.getItem('resets') ?? '[]');

const app = { rewind, CursorError, process: processed, showError: failed, clearState: () => localStorage.setItem('received', '[]') };
const lib = new URLSearchParams(location.search).get('lib');
const follow = {
  plain: () => plain({ ...app, FOLLOW }),
  apollo: () => apolloSnippet({ ...app, FOLLOW: gql(FOLLOW), apollo: new ApolloClient({ link: rewindLink(rewind, new HttpLink({ uri: server })), cache: new InMemoryCache() }) }),
  urql: () => urqlSnippet({ ...app, FOLLOW, urql: new Client({ url: server, exchanges: [fetchExchange, rewindExchange(rewind)] }) }),
}[lib]();
follow({ topics, afterId: zero });
document.title = `expired ${lib} ready`;
