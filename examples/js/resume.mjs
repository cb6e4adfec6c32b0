// A Rewind subscriber that never loses an event: the graphql-ws client
// reconnects after any non-fatal close (a server restart, a network
// change), and every retry subscribes again after the last event id this
// program processed, so nothing is missed and nothing repeated.
//
//   node resume.mjs <graphql-url> <topic> <count> [afterId]
//
// Prints one JSON line per event ({"id", "data"}) and exits 0 after count
// events; on a fatal close (one that retrying cannot fix) it prints
// {"fatal": code} and exits 2. Each connection attempt prints
// {"connecting": n}.
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [url, topic, countArg, after = '00000000000000000000000000'] = process.argv.slice(2);
// PAD_BYTES pads the query with a comment, to test the server's size limit.
const pad = '# ' + 'x'.repeat(Number(process.env.PAD_BYTES ?? 0));
const count = Number(countArg);
if (!url || !topic || !(count > 0)) {
  console.error('usage: node resume.mjs <graphql-url> <topic> <count> [afterId]');
  process.exit(64);
}

let attempts = 0;
const client = createClient({
  url: url.replace(/^http/, 'ws'),
  webSocketImpl: WebSocket,
  retryAttempts: 50,
  // Retry network errors too (a refused connection while the server
  // restarts); close codes that retrying cannot fix still stop the client.
  shouldRetry: () => true,
  // Reconnect quickly, with jitter so that clients of a restarted server
  // do not all come back at once.
  retryWait: async () => new Promise((resolve) => setTimeout(resolve, 100 + Math.random() * 200)),
  on: { connecting: () => console.log(JSON.stringify({ connecting: ++attempts })) },
});

// The client sends this same payload object on every retry, so keeping the
// cursor in its variables makes each retry resume after the last event.
const payload = {
  query: `subscription ($topics: [String!]!, $after: ID) {
    events(topics: $topics, afterId: $after) { id data }
  } ${pad}`,
  variables: { topics: [topic], after },
};

let received = 0;
const dispose = client.subscribe(payload, {
  next: ({ data, errors }) => {
    if (errors) {
      console.log(JSON.stringify({ errors }));
      return;
    }
    const ev = data.events;
    payload.variables.after = ev.id; // processed: resume after it
    console.log(JSON.stringify({ id: ev.id, data: ev.data }));
    if (++received === count) {
      dispose();
      client.dispose();
      process.exit(0);
    }
  },
  error: (err) => {
    console.log(JSON.stringify({ fatal: err?.code ?? String(err) }));
    client.dispose();
    process.exit(2);
  },
  complete: () => {},
});
