// Hive Gateway in front of Rewind and the orders subgraph. Start it with
//   npx hive-gateway supergraph supergraph.graphql --port 4000
// It watches the supergraph file: compose again (compose.mjs) to reload.
import { defineConfig } from '@graphql-hive/gateway';

export const gatewayConfig = defineConfig({
  // Subscriptions reach Rewind over graphql-ws (graphql-transport-ws) on
  // its /graphql; queries and mutations over HTTP. The client's
  // Authorization goes in connection_init, where Rewind reads a token.
  transportEntries: {
    rewind: {
      options: {
        subscriptions: {
          kind: 'ws',
          location: '/graphql',
          options: { connectionParams: { Authorization: '{context.headers.authorization}' } },
        },
      },
    },
  },
  // Queries, mutations and entity fetches carry the client's token.
  propagateHeaders: {
    fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') ?? undefined }),
  },
  logging: process.env.GATEWAY_LOG || 'info',
});
