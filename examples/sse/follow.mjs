// Follows Rewind events over GraphQL over SSE and prints one JSON line per
// event: {"id", "sseId", "data"}. Run with the server's /graphql URL and a
// mode:
//
//   node follow.mjs http://localhost:8080/graphql eventsource 'orders.>'
//   node follow.mjs http://localhost:8080/graphql graphql-sse 'orders.>'
//
// eventsource: the browser's EventSource API. No resume code at all: every
// message carries the event id in its SSE id field, EventSource sends the
// last one back as Last-Event-ID when it reconnects, and the server resumes
// after it.
//
// graphql-sse: the graphql-sse client in distinct-connections mode, which
// retries dropped streams; its headers function sends the last id it
// processed as Last-Event-ID.
import { EventSource } from 'eventsource';
import { createClient } from 'graphql-sse';

const [url, mode = 'eventsource', topic = '>'] = process.argv.slice(2);
const query = `subscription($topics: [String!]!) {
  events(topics: $topics, afterId: "00000000000000000000000000") { id data }
}`;
const variables = { topics: [topic] };
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');

if (mode === 'eventsource') {
  const u = new URL(url);
  u.searchParams.set('query', query);
  u.searchParams.set('variables', JSON.stringify(variables));
  const es = new EventSource(u);
  es.addEventListener('open', () => print({ connected: true }));
  es.addEventListener('next', (e) => {
    const result = JSON.parse(e.data);
    if (result.errors) return print({ errors: result.errors });
    print({ id: result.data.events.id, sseId: e.lastEventId, data: result.data.events.data });
  });
  es.addEventListener('complete', () => es.close()); // the subscription ended for good
} else {
  let last = null;
  const client = createClient({
    url,
    retryAttempts: Infinity,
    retry: () => new Promise((resolve) => setTimeout(resolve, 200 + Math.random() * 300)),
    headers: () => (last ? { 'Last-Event-ID': last } : {}),
    on: { connected: () => print({ connected: true }) },
  });
  for await (const result of client.iterate({ query, variables })) {
    if (result.errors) {
      print({ errors: result.errors });
      continue;
    }
    last = result.data.events.id;
    print({ id: last, data: result.data.events.data });
  }
}
