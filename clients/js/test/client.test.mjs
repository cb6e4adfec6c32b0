import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRewindClient, memoryCursorStore, localStorageCursorStore, CursorError, CloseError, RequestError, RewindError,
} from '../dist/index.js';
import { url, authURL, token, zero, run, publish, kill9AndRestart, collector, follow, WebSocket } from './helpers.mjs';

const fast = { minDelayMs: 50, maxDelayMs: 500 };

for (const transport of ['ws', 'sse']) {
  test(`${transport}: every event once, in order, across two SIGKILL restarts`, async () => {
    const topic = run();
    const retries = [];
    const client = createRewindClient({
      url, transport, webSocketImpl: WebSocket, retry: fast, onRetry: (r) => retries.push(r),
    });
    const want = [];
    for (let i = 0; i < 3; i++) want.push(await publish(`${topic}.${i}`, i));
    const c = collector();
    // An asynchronous sink: the cursor advances only once it resolves, in order.
    const stop = client.subscribe({ query: follow, variables: { topics: [`${topic}.*`], afterId: zero } }, {
      ...c.sink,
      next: async (r) => {
        await new Promise((res) => setTimeout(res, Math.random() * 5));
        c.sink.next(r);
      },
    });
    try {
      await c.until(() => c.ids.length === 3, '3 stored events');
      for (let round = 0; round < 2; round++) {
        await kill9AndRestart();
        for (let i = 0; i < 3; i++) want.push(await publish(`${topic}.${3 * (round + 1) + i}`, i));
        await c.until(() => c.ids.length >= want.length, `${want.length} events`);
      }
      // Nothing more arrives late (a duplicate would).
      want.push(await publish(`${topic}.last`, 'last'));
      await c.until(() => c.ids.length >= want.length, 'the last event');
      assert.deepEqual(c.ids, want);
      assert.equal(c.error, undefined);
      assert.ok(retries.length >= 2, `retried ${retries.length} times, want at least once per restart`);
      // The cursor advances once the asynchronous sink has resolved.
      const key = client.cursorKey({ query: follow, variables: { topics: [`${topic}.*`] } });
      for (let i = 0; i < 100 && (await client.cursor(key)) !== want.at(-1); i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(await client.cursor(key), want.at(-1));
    } finally {
      stop();
      await client.dispose();
    }
  });
}

test('a persistent cursor store resumes a new client (a page reload) after the last processed event', async () => {
  const topic = run();
  const items = new Map();
  // localStorage's interface over a Map: Node has no localStorage; the browser tests use the real one.
  const storage = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, v), removeItem: (k) => items.delete(k) };
  const request = { query: follow, variables: { topics: [`${topic}.*`], last: 2 } };
  const first = [await publish(`${topic}.a`, 1), await publish(`${topic}.b`, 2), await publish(`${topic}.c`, 3)];

  const one = createRewindClient({ url, webSocketImpl: WebSocket, cursorStore: localStorageCursorStore({ storage }) });
  const c1 = collector();
  one.subscribe(request, c1.sink);
  await c1.until(() => c1.ids.length === 2, 'the last 2 events');
  assert.deepEqual(c1.ids, first.slice(1), 'last: 2 starts with the two newest');
  await one.dispose();
  assert.equal(items.get(`rewind:cursor:${one.cursorKey(request)}`), first[2]);

  const more = [await publish(`${topic}.d`, 4), await publish(`${topic}.e`, 5)];
  const two = createRewindClient({ url, webSocketImpl: WebSocket, cursorStore: localStorageCursorStore({ storage }) });
  const c2 = collector();
  // The same request, last: 2 included: with a stored cursor it is sent as null.
  two.subscribe(request, c2.sink);
  try {
    await c2.until(() => c2.ids.length === 2, 'the 2 events published while it was away');
    const later = await publish(`${topic}.f`, 6);
    await c2.until(() => c2.ids.length === 3, 'a live event');
    assert.deepEqual(c2.ids, [...more, later]);
    assert.equal(c2.error, undefined);
  } finally {
    await two.dispose();
  }
});

// InvalidInit sends a connection_init whose payload is not an object,
// which graphql-ws itself would refuse to send: the server closes 4400.
class InvalidInit extends WebSocket {
  send(data) {
    super.send(this.sent ? data : '{"type":"connection_init","payload":[1]}');
    this.sent = true;
  }
}

test('a fatal close code (4400: an invalid connection_init) ends the subscription with a CloseError, without retrying', async () => {
  const retries = [];
  const client = createRewindClient({
    url, retry: fast, onRetry: (r) => retries.push(r),
    webSocketImpl: InvalidInit,
  });
  const c = collector();
  client.subscribe({ query: follow, variables: { topics: ['x.*'], afterId: zero } }, c.sink);
  try {
    await c.until(() => c.error, 'the error');
    assert.ok(c.error instanceof CloseError, `got ${c.error}`);
    assert.ok(c.error instanceof RewindError);
    assert.equal(c.error.closeCode, 4400);
    assert.match(c.error.advice, /fix the client/);
    assert.equal(retries.length, 0);
  } finally {
    await client.dispose();
  }
});

for (const transport of ['ws', 'sse']) {
  test(`${transport}: an expired cursor is a CursorError (CURSOR_EXPIRED); after resetCursor, last starts again`, async () => {
    const topic = run();
    // The server keeps 2 events per topic: the first of 3 is superseded.
    const ids = [await publish(topic, 1), await publish(topic, 2), await publish(topic, 3)];
    const store = memoryCursorStore();
    const client = createRewindClient({ url, transport, webSocketImpl: WebSocket, cursorStore: store, retry: fast });
    const request = { query: follow, variables: { topics: [topic], last: 1 }, key: `exp-${topic}` };
    await store.set(request.key, ids[0]);
    const c = collector();
    client.subscribe(request, c.sink);
    try {
      await c.until(() => c.error, 'the error');
      assert.ok(c.error instanceof CursorError, `got ${c.error}`);
      assert.equal(c.error.code, 'CURSOR_EXPIRED');
      assert.equal(c.error.cursor, ids[0]);
      assert.equal(c.error.key, request.key);
      assert.match(c.error.advice, /last, since or latest/);
      assert.equal(c.ids.length, 0);

      await client.resetCursor(c.error.key);
      const again = collector();
      client.subscribe(request, again.sink);
      await again.until(() => again.ids.length === 1, 'the newest event');
      assert.deepEqual(again.ids, [ids[2]]);
    } finally {
      await client.dispose();
    }
  });
}

test('an unknown cursor is a CursorError (CURSOR_NOT_FOUND)', async () => {
  const client = createRewindClient({ url, webSocketImpl: WebSocket });
  const c = collector();
  // A well-formed id from a moment the stream has (now), never stored.
  const unknown = (await publish(run(), 0)).slice(0, 10) + 'ZZZZZZZZZZZZZZZZ';
  client.subscribe({ query: follow, variables: { topics: ['x.*'], afterId: unknown } }, c.sink);
  try {
    await c.until(() => c.error, 'the error');
    assert.ok(c.error instanceof CursorError, `got ${c.error}`);
    assert.equal(c.error.code, 'CURSOR_NOT_FOUND');
    assert.equal(c.error.cursor, unknown);
  } finally {
    await client.dispose();
  }
});

test('an operation without $afterId is refused at once', () => {
  const client = createRewindClient({ url, webSocketImpl: WebSocket });
  assert.throws(() => client.subscribe({ query: 'subscription { events(topics: ["a"]) { id } }' }, collector().sink), /\$afterId/);
  return client.dispose();
});

test('a next that throws ends the subscription with a SINK error; the cursor stays on the event before', async () => {
  const topic = run();
  const ids = [await publish(`${topic}.a`, 1), await publish(`${topic}.b`, 2), await publish(`${topic}.c`, 3)];
  const client = createRewindClient({ url, webSocketImpl: WebSocket });
  const request = { query: follow, variables: { topics: [`${topic}.*`], afterId: zero } };
  const c = collector();
  client.subscribe(request, {
    ...c.sink,
    next(result) {
      if (result.data.events.id === ids[1]) throw new Error('cannot process');
      c.sink.next(result);
    },
  });
  try {
    await c.until(() => c.error, 'the error');
    assert.ok(c.error instanceof RewindError, `got ${c.error}`);
    assert.equal(c.error.code, 'SINK');
    assert.match(c.error.cause.message, /cannot process/);
    assert.deepEqual(c.ids, [ids[0]]);
    assert.equal(await client.cursor(client.cursorKey(request)), ids[0]);
  } finally {
    await client.dispose();
  }
});

test('refused credentials (4403) end the subscription with a CloseError that says to re-authenticate', async () => {
  const retries = [];
  const client = createRewindClient({ url: authURL, webSocketImpl: WebSocket, retry: fast, onRetry: (r) => retries.push(r) });
  const c = collector();
  client.subscribe({ query: follow, variables: { topics: ['secure.*'], afterId: zero } }, c.sink);
  try {
    await c.until(() => c.error, 'the error');
    assert.ok(c.error instanceof CloseError, `got ${c.error}`);
    assert.equal(c.error.closeCode, 4403);
    assert.match(c.error.advice, /re-authenticate/);
    assert.equal(retries.length, 0);
  } finally {
    await client.dispose();
  }
});

test('a token without the grant for the topics gets a RequestError (FORBIDDEN)', async () => {
  const client = createRewindClient({
    url: authURL, webSocketImpl: WebSocket, connectionParams: () => ({ authorization: `Bearer ${token}` }),
  });
  const denied = collector();
  client.subscribe({ query: follow, variables: { topics: ['other.*'], afterId: zero } }, denied.sink);
  try {
    await denied.until(() => denied.error, 'the error');
    assert.ok(denied.error instanceof RequestError, `got ${denied.error}`);
    assert.equal(denied.error.code, 'FORBIDDEN');
  } finally {
    await client.dispose();
  }
});
