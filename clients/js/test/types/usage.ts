// Compiled, not run (npm run typecheck, in TestTypes): the client's types
// follow a graphql-codegen TypedDocumentNode, and the Apollo and urql
// integrations accept the client. A line marked @ts-expect-error fails the
// check if it compiles.
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { parse } from 'graphql';
import { ApolloClient, InMemoryCache } from '@apollo/client';
import { Client, fetchExchange } from '@urql/core';
import { createRewindClient, CursorError, CloseError, indexedDBCursorStore, type Sink } from '../../src/index.js';
import { rewindLink } from '../../src/apollo.js';
import { rewindExchange } from '../../src/urql.js';

// What graphql-codegen's client preset generates for an operation.
type FollowSubscription = { events: { __typename?: 'Event'; id: string; data: unknown; live: boolean } };
type FollowSubscriptionVariables = { topics: string[]; afterId?: string | null };
const FollowDocument = parse(`subscription Follow($topics: [String!]!, $afterId: ID) {
  events(topics: $topics, afterId: $afterId) { id data live }
}`) as unknown as TypedDocumentNode<FollowSubscription, FollowSubscriptionVariables>;

const rewind = createRewindClient({ url: 'http://localhost:8080/graphql', cursorStore: indexedDBCursorStore() });

rewind.subscribe({ query: FollowDocument, variables: { topics: ['orders.*'] } }, {
  next(result) {
    const id: string | undefined = result.data?.events.id;
    const live: boolean | undefined = result.data?.events.live;
    // @ts-expect-error: the document selects no such field
    void result.data?.events.total;
    void id, live;
  },
  error(err) {
    if (err instanceof CursorError) {
      const what: 'CURSOR_EXPIRED' | 'CURSOR_NOT_FOUND' = err.code;
      void rewind.resetCursor(err.key).then(() => what);
    } else if (err instanceof CloseError) {
      const code: number = err.closeCode;
      void code;
    }
  },
  complete() {},
});

declare const sink: Sink<FollowSubscription>;
// @ts-expect-error: variables that the document does not declare
rewind.subscribe({ query: FollowDocument, variables: { topic: 'orders.*' } }, sink);

// cursorOf sees the typed data.
rewind.subscribe({ query: FollowDocument, variables: { topics: ['a'] }, cursorOf: (data) => data.events.id }, sink);

new ApolloClient({ link: rewindLink(rewind), cache: new InMemoryCache() });
new Client({ url: 'http://localhost:8080/graphql', exchanges: [fetchExchange, rewindExchange(rewind)] });
