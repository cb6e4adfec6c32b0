// The Node peer of rewind-bench: graphql-ws on ws, with graphql-subscriptions'
// in-memory PubSub, serving the shape of Rewind's publish mutation and events
// subscription. Nothing is stored. PubSub matches exact topic names only
// (no wildcards), which is all the benchmark asks of a peer.
//
// ADDR=127.0.0.1:0 node server.js  ->  logs "msg=listening addr=HOST:PORT"
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { buildSchema, graphql, GraphQLScalarType, Kind } from 'graphql';
import { PubSub } from 'graphql-subscriptions';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';

const schema = buildSchema(`
  scalar Time
  scalar JSON
  type Event { id: ID! topic: String! type: String! data: JSON! time: Time! }
  type Query { hello: String! }
  type Mutation {
    publish(topic: String!, type: String = "message", data: JSON!, idempotencyKey: String): Event!
  }
  type Subscription { events(topics: [String!]!, afterId: ID, types: [String!]): Event! }
`);

function literal(ast) {
  switch (ast.kind) {
    case Kind.STRING: case Kind.BOOLEAN: return ast.value;
    case Kind.INT: case Kind.FLOAT: return Number(ast.value);
    case Kind.OBJECT: return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value)]));
    case Kind.LIST: return ast.values.map(literal);
    default: return null;
  }
}
Object.assign(schema.getType('JSON'), new GraphQLScalarType({
  name: 'JSON', serialize: (v) => v, parseValue: (v) => v, parseLiteral: literal,
}));
Object.assign(schema.getType('Time'), new GraphQLScalarType({
  name: 'Time', serialize: (v) => v, parseValue: (v) => v, parseLiteral: (ast) => ast.value,
}));

const pubsub = new PubSub();

const root = {
  hello: () => 'Hello from the Node peer',
  publish: ({ topic, type, data }) => {
    const event = { id: randomUUID(), topic, type: type ?? 'message', data, time: new Date().toISOString() };
    pubsub.publish(topic, { events: event });
    return event;
  },
  events: ({ topics, afterId }) => {
    if (afterId != null) throw new Error('afterId: this server stores nothing');
    return pubsub.asyncIterableIterator(topics);
  },
};

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    return;
  }
  if (req.method !== 'POST' || req.url !== '/graphql') {
    res.writeHead(404).end();
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"message":"bad JSON"}]}');
      return;
    }
    const result = await graphql({ schema, source: body.query, rootValue: root, variableValues: body.variables });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
  });
});

const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({ schema, roots: { subscription: { events: root.events } } }, wss);

const [host, port] = (process.env.ADDR || '127.0.0.1:8082').split(/:(?=[^:]*$)/);
server.listen(Number(port), host, () => {
  const a = server.address();
  process.stderr.write(`msg=listening addr=${a.address}:${a.port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    for (const c of wss.clients) c.terminate();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  });
}
