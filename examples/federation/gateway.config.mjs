// Hive Gateway in front of Rewind and the orders subgraph. Start it with
//   npx hive-gateway supergraph supergraph.graphql --port 4000
// It watches the supergraph file: compose again (compose.mjs) to reload.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  // Subscriptions reach Rewind over SSE (graphql-sse, distinct
  // connections) by default, or graphql-ws with REWIND_SUBSCRIPTIONS=ws.
  // SSE is the safe one: when Rewind's connection breaks, the gateway ends
  // the subscription with an error and the client resumes from its cursor,
  // whereas the gateway's own graphql-ws client (5 retries, not
  // configurable) subscribes again with the *original* variables, so a
  // client that started with an old afterId gets those events again.
  transportEntries: {
    rewind: {
      options: {
        subscriptions:
          process.env.REWIND_SUBSCRIPTIONS === 'ws'
            ? { kind: 'ws', location: '/graphql', options: { connectionParams: { Authorization: '{context.headers.authorization}' } } }
            : { kind: 'http', location: '/graphql' },
      },
    },
  },
  // Every request to a subgraph (queries, mutations, entity fetches, SSE
  // subscriptions) carries the client's token: from its Authorization
  // header, or, for a client on graphql-ws, from its connection_init
  // payload (which the gateway merges into context.headers).
  propagateHeaders: {
    fromClientToSubgraphs: ({ request, context }) => {
      const h = context?.headers ?? {};
      const authorization = request?.headers?.get('authorization') ?? h.authorization ?? h.Authorization;
      return authorization ? { authorization } : {};
    },
  },
  logging: process.env.GATEWAY_LOG || 'info',
});
