// The orders subgraph: owns Order (status, customer), which Rewind's
// events reference by id. A tiny GraphQL Yoga server with Apollo's
// buildSubgraphSchema. PORT (default 4001) sets its port; it prints
// "orders subgraph listening on URL" when ready. ORDERS_VERSION=2 adds
// Order.priority: a changed supergraph, for a gateway reload.
import { createServer } from 'node:http';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { createYoga } from 'graphql-yoga';
import { parse } from 'graphql';

const v2 = process.env.ORDERS_VERSION === '2';

export const typeDefs = parse(/* GraphQL */ `
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])

  "An order, owned here; Rewind's events reference it by id."
  type Order @key(fields: "id") {
    id: ID!
    status: String!
    customer: String!
    ${v2 ? 'priority: Int!' : ''}
  }

  "A Rewind event, referenced by id: the gateway fetches it from Rewind (_entities), with the client's token."
  type Event @key(fields: "id", resolvable: false) {
    id: ID!
  }

  type Query {
    order(id: ID!): Order
    "The events an audit trail kept the ids of, as Rewind serves them to the caller (null: unknown, or not readable)."
    audit(ids: [ID!]!): [Event]!
  }
`);

// Every id is an order: its status and customer follow from the id, so
// the walkthrough and the tests can check what the gateway joined.
export function order(id) {
  return { id, status: Number(id) % 2 === 0 ? 'paid' : 'open', customer: `customer-${id}`, priority: Number(id) % 5 };
}

const resolvers = {
  Query: { order: (_, { id }) => order(id), audit: (_, { ids }) => ids.map((id) => ({ id })) },
  Order: { __resolveReference: ({ id }) => order(id) },
};

const yoga = createYoga({ schema: buildSubgraphSchema([{ typeDefs, resolvers }]), graphiql: false, logging: 'warn' });
const server = createServer(yoga);
const port = Number(process.env.PORT ?? 4001);
server.listen(port, '127.0.0.1', () => {
  console.log(`orders subgraph listening on http://127.0.0.1:${server.address().port}/graphql`);
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
