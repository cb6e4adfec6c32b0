import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
const client = createClient({ url: 'ws://127.0.0.1:4100/graphql', webSocketImpl: WebSocket });
const q = { query: 'subscription { orderPlaced(latest: true) { id data { order { id status } } } }' };
const sink = (n) => ({ next: (r) => console.log(n, JSON.stringify(r)), error: (e) => console.log(n, 'error', e), complete: () => { console.log(n, 'complete'); if (n < 3) setTimeout(() => client.subscribe(q, sink(n+1)), 500); } });
client.subscribe(q, sink(1));
