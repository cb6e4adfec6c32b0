// Helpers for the Node tests: the server under test comes from the Go test
// (TestNodeClient), which passes its URL and a control endpoint that
// restarts it with SIGKILL.
import WebSocket from 'ws';

export const url = process.env.REWIND_URL;
/** A server run with --auth=jwt, and a token that may subscribe to secure.> there. */
export const authURL = process.env.REWIND_AUTH_URL;
export const token = process.env.REWIND_TOKEN;
const controlURL = process.env.REWIND_CONTROL;
if (!url || !controlURL) {
  throw new Error('run these tests through the Go test: go test ./clients/js -run TestNodeClient');
}

export const zero = '00000000000000000000000000';
export { WebSocket };

/** A topic prefix of its own for each test, so tests never see each other's events. */
export const run = () => `t${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** publish appends an event over HTTP and returns its id, retrying while the server restarts. */
export async function publish(topic, data) {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          query: 'mutation ($t: String!, $d: JSON!) { publish(topic: $t, data: $d) { id } }',
          variables: { t: topic, d: data },
        }),
      });
      const body = await res.json();
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data.publish.id;
    } catch (err) {
      if (attempt > 100) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** kill9AndRestart asks the Go test to SIGKILL the server and start it again on its address. */
export async function kill9AndRestart() {
  const res = await fetch(`${controlURL}/kill9-restart`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`restart: HTTP ${res.status}`);
}

/** collector is a sink that records what arrives and lets a test wait for it. */
export function collector() {
  const ids = [];
  const results = [];
  let error;
  let completed = false;
  let waiters = [];
  const notify = () => {
    waiters = waiters.filter((w) => !w());
  };
  return {
    ids,
    results,
    get error() {
      return error;
    },
    get completed() {
      return completed;
    },
    sink: {
      next(result) {
        results.push(result);
        const ev = result.data && Object.values(result.data)[0];
        if (ev?.id) ids.push(ev.id);
        notify();
      },
      error(err) {
        error = err;
        notify();
      },
      complete() {
        completed = true;
        notify();
      },
    },
    /** until waits (up to 30 s) for cond() to hold. */
    until(cond, what) {
      if (cond()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ids ${JSON.stringify(ids)}, error ${error}`)), 30_000);
        waiters.push(() => {
          if (!cond()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        });
      });
    },
  };
}

export const follow = `subscription Follow($topics: [String!]!, $afterId: ID, $last: Int) {
  events(topics: $topics, afterId: $afterId, last: $last) { id topic data live }
}`;
