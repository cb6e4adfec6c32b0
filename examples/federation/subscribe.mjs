// A client of the gateway that never loses an event: graphql-ws with
// retries, resuming after the last event it processed on every reconnect
// (a gateway restart or reload, a Rewind instance gone), so each event
// arrives once, with its order's status and customer joined in by the
// gateway from the orders subgraph.
//
//   node subscribe.mjs <gateway-graphql-url> <count> [afterId]
//
// TOKEN, if set, is sent as Authorization in connection_init; TOPICS
// (comma-separated) narrows the subscription to those topics. Prints one
// JSON line per event ({"id", "live", "type", "order"}) and exits 0 after
// count events; {"connecting": n} for each connection attempt; {"errors"}
// for a result with errors; {"completed"} when the gateway ends the
// subscription (it is started again); {"fatal"} and exit 2 when retrying
// cannot help.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, countArg, after = '00000000000000000000000000'] = process.argv.slice(2);
const count = Number(countArg);
if (!url || !(count > 0)) {
  console.error('usage: node subscribe.mjs <gateway-graphql-url> <count> [afterId]');
  process.exit(64);
}

let attempts = 0;
let client;

// The same payload object is sent on every retry: the cursor in its
// variables makes each retry resume after the last event processed.
const payload = {
  query: `subscription ($after: ID, $topics: [String!]) {
    orderEvent(afterId: $after, topics: $topics) {
      id
      live
      data {
        __typename
        ... on OrderPlaced { order { id status customer } total }
        ... on OrderShipped { order { id status customer } carrier }
      }
    }
  }`,
  variables: { after, topics: process.env.TOPICS ? process.env.TOPICS.split(',') : null },
};

let received = 0;
let generation = 0;

// restart starts over on a new connection, after the last event processed.
function restart() {
  generation++;
  client.dispose();
  setTimeout(connect, 100);
}

// Errors that retrying cannot fix: the subscription itself is refused.
const fatalCodes = ['BAD_USER_INPUT', 'FORBIDDEN', 'UNAUTHENTICATED', 'GRAPHQL_VALIDATION_FAILED', 'CURSOR_NOT_FOUND', 'CURSOR_EXPIRED'];

function fatal(errors) {
  const e = errors?.find((e) => fatalCodes.includes(e?.extensions?.code));
  if (!e) return false;
  console.log(JSON.stringify({ fatal: e.extensions.code, message: e.message }));
  client.dispose();
  process.exit(2);
}

function sinkFor(gen) {
  const current = () => gen === generation; // a restarted subscription's messages are ignored
  return {
    next: ({ data, errors }) => {
      if (!current()) return;
      if (errors) console.log(JSON.stringify({ errors }));
      const ev = data?.orderEvent;
      if (!ev && fatal(errors)) return;
      if (!ev) {
        // An event the gateway could not complete (SCHEMA_RELOAD while it
        // fetched the order): not processed, and the gateway goes on with
        // the next one. Resume after the last one processed, so that this
        // one comes again.
        restart();
        return;
      }
      payload.variables.after = ev.id; // processed: resume after it
      console.log(JSON.stringify({ id: ev.id, live: ev.live, type: ev.data.__typename, order: ev.data.order }));
      if (++received === count) {
        client.dispose();
        process.exit(0);
      }
    },
    error: (err) => {
      if (!current()) return;
      if (Array.isArray(err)) {
        // GraphQL errors ending the subscription: the gateway lost its
        // subgraph's stream (a Rewind instance gone). Resume elsewhere.
        console.log(JSON.stringify({ errors: err }));
        if (fatal(err)) return;
        restart();
        return;
      }
      console.log(JSON.stringify({ fatal: err?.code ?? err?.message ?? String(err) }));
      client.dispose();
      process.exit(2);
    },
    // A gateway completes subscriptions when it reloads its supergraph.
    complete: () => {
      if (!current()) return;
      console.log(JSON.stringify({ completed: true }));
      restart();
    },
  };
}

function connect() {
  client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 1000,
    shouldRetry: () => true, // refused connections while the gateway restarts too
    retryWait: async () => new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 100)),
    connectionParams: () => (process.env.TOKEN ? { Authorization: `Bearer ${process.env.TOKEN}` } : {}),
    on: { connecting: () => console.log(JSON.stringify({ connecting: ++attempts })) },
  });
  client.subscribe(payload, sinkFor(generation));
}
connect();
