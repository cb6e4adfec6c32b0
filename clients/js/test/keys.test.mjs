// Cursor keys: identical subscriptions share one upstream and one cursor;
// different operations never share one, whatever their names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'graphql';
import { createRewindClient, memoryCursorStore } from '../dist/index.js';
import { url, zero, run, publish, collector, follow, WebSocket } from './helpers.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** upstreams counts the subscribe messages a client sends over its WebSocket. */
function countingWebSocket() {
  const sent = [];
  class Counting extends WebSocket {
    send(data) {
      const msg = JSON.parse(String(data));
      if (msg.type === 'subscribe') sent.push(msg);
      super.send(data);
    }
  }
  return { sent, Counting };
}

test('two identical subscriptions share one upstream and one cursor, which advances once both have processed an event', async () => {
  const topic = run();
  const ids = [await publish(`${topic}.a`, 1), await publish(`${topic}.b`, 2)];
  const ws = countingWebSocket();
  const client = createRewindClient({ url, webSocketImpl: ws.Counting });
  const request = { query: follow, variables: { topics: [`${topic}.*`], afterId: zero } };
  const key = client.cursorKey(request);
  const a = collector();
  // b processes asynchronously and holds the second event until released.
  const b = collector();
  let release;
  const held = new Promise((r) => (release = r));
  const stopA = client.subscribe(request, a.sink);
  const stopB = client.subscribe(request, {
    ...b.sink,
    next: async (r) => {
      if (r.data.events.id === ids[1]) await held;
      b.sink.next(r);
    },
  });
  try {
    await a.until(() => a.ids.length === 2, 'a: both events');
    await b.until(() => b.ids.length === 1, 'b: the first event');
    assert.equal(await client.cursor(key), ids[0], 'the cursor passed an event one subscription has not processed');
    release();
    await b.until(() => b.ids.length === 2, 'b: the second event');
    for (let i = 0; i < 100 && (await client.cursor(key)) !== ids[1]; i++) await sleep(10);
    assert.equal(await client.cursor(key), ids[1]);

    ids.push(await publish(`${topic}.c`, 3));
    await a.until(() => a.ids.length === 3, 'a: the live event');
    await b.until(() => b.ids.length === 3, 'b: the live event');
    assert.deepEqual(a.ids, ids);
    assert.deepEqual(b.ids, ids);
    assert.equal(ws.sent.length, 1, `${ws.sent.length} upstream subscriptions, want one for both`);

    // One leaves: the other goes on, on the same upstream.
    stopA();
    ids.push(await publish(`${topic}.d`, 4));
    await b.until(() => b.ids.length === 4, 'b: after a left');
    assert.equal(a.ids.length, 3);
    assert.equal(ws.sent.length, 1);
  } finally {
    stopB();
    await client.dispose();
  }
});

test('a subscription that joins a running one starts where it is; with a key of its own it starts from its own afterId', async () => {
  const topic = run();
  const ids = [await publish(`${topic}.a`, 1), await publish(`${topic}.b`, 2)];
  const client = createRewindClient({ url, webSocketImpl: WebSocket });
  const request = { query: follow, variables: { topics: [`${topic}.*`], afterId: zero } };
  const first = collector();
  const joined = collector();
  const own = collector();
  client.subscribe(request, first.sink);
  try {
    await first.until(() => first.ids.length === 2, 'the stored events');
    client.subscribe(request, joined.sink);
    client.subscribe({ ...request, key: `own-${topic}` }, own.sink);
    await own.until(() => own.ids.length === 2, 'own: the stored events');
    ids.push(await publish(`${topic}.c`, 3));
    await first.until(() => first.ids.length === 3, 'the live event');
    await joined.until(() => joined.ids.length === 1, 'joined: the live event');
    await own.until(() => own.ids.length === 3, 'own: the live event');
    assert.deepEqual(first.ids, ids);
    assert.deepEqual(joined.ids, [ids[2]]);
    assert.deepEqual(own.ids, ids);
  } finally {
    await client.dispose();
  }
});

test('two operations that share a name and variables (topics written inline) keep a cursor each, and each resumes from its own', async () => {
  const topic = run();
  const store = memoryCursorStore();
  const op = (sub) => `subscription Follow($afterId: ID) { events(topics: ["${topic}.${sub}"], afterId: $afterId) { id } }`;
  const requests = { a: { query: op('a'), variables: { afterId: zero } }, b: { query: op('b'), variables: { afterId: zero } } };
  const want = { a: [], b: [] };
  const got = { a: [], b: [] };
  const follow2 = (client) => {
    const cs = { a: collector(), b: collector() };
    for (const s of ['a', 'b']) client.subscribe(requests[s], cs[s].sink);
    return cs;
  };
  // b is ahead of a when the first client goes (a page closed): b has
  // processed its newer event, a not yet its older one.
  want.a.push(await publish(`${topic}.a`, 1));
  want.b.push(await publish(`${topic}.b`, 2));
  const one = createRewindClient({ url, webSocketImpl: WebSocket, cursorStore: store });
  assert.notEqual(one.cursorKey(requests.a), one.cursorKey(requests.b));
  let cs = follow2(one);
  await cs.b.until(() => cs.b.ids.length === 1, 'b');
  await cs.a.until(() => cs.a.ids.length === 1, 'a');
  for (const s of ['a', 'b']) got[s].push(...cs[s].ids);
  await one.dispose();

  want.a.push(await publish(`${topic}.a`, 3));
  want.b.push(await publish(`${topic}.b`, 4));
  const two = createRewindClient({ url, webSocketImpl: WebSocket, cursorStore: store });
  cs = follow2(two);
  try {
    await cs.a.until(() => cs.a.ids.length === 1, 'a after the reload');
    await cs.b.until(() => cs.b.ids.length === 1, 'b after the reload');
    for (const s of ['a', 'b']) got[s].push(...cs[s].ids);
    assert.deepEqual(got, want);
  } finally {
    await two.dispose();
  }
});

test('the default key follows the operation, not how it is written; an explicit key in use by another operation is refused', async () => {
  const client = createRewindClient({ url, webSocketImpl: WebSocket });
  try {
    const vars = { topics: ['x.*'], afterId: zero };
    const spaced = `# a comment
      subscription   Follow($topics: [String!]!, $afterId: ID, $last: Int) {
        events(topics: $topics, afterId: $afterId, last: $last) { id, topic, data, live }
      }`;
    const key = client.cursorKey({ query: follow, variables: vars });
    assert.match(key, /^Follow:[0-9a-f]{16}$/);
    assert.equal(client.cursorKey({ query: spaced, variables: { ...vars, last: 5 } }), key, 'formatting, comments or a start point changed the key');
    assert.equal(client.cursorKey({ query: parse(follow), variables: { topics: ['x.*'] } }), key, 'a parsed document has another key');
    assert.notEqual(client.cursorKey({ query: follow, variables: { topics: ['y.*'] } }), key);
    assert.notEqual(client.cursorKey({ query: follow.replace('live', 'time'), variables: vars }), key);

    const stop = client.subscribe({ query: follow, variables: vars, key: 'mine' }, collector().sink);
    assert.throws(() => client.subscribe({ query: follow, variables: { topics: ['y.*'] }, key: 'mine' }, collector().sink), /key "mine" is in use/);
    stop();
    // Once the first has ended, the key is free again.
    client.subscribe({ query: follow, variables: { topics: ['y.*'] }, key: 'mine' }, collector().sink)();
  } finally {
    await client.dispose();
  }
});
