// The client: one subscription loop per cursor key, which reads the
// cursor, subscribes with it as afterId, hands each result to every
// subscription on that key, records the event's id once all of them have
// processed it, and on any failure that retrying can fix waits a jittered
// backoff and starts again from the cursor.
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws';
import { createClient as createSSEClient, NetworkError, type Client as SSEClient } from 'graphql-sse';
import type { DocumentNode, ExecutionResult, GraphQLFormattedError } from 'graphql';
import { Lexer, Source, TokenKind, print } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { memoryCursorStore, type CursorStore } from './cursor.js';
import { CloseError, CursorError, HTTPError, RequestError, RewindError, fatalCloseCodes, retryableCodes } from './errors.js';

/** RetryOptions shape the wait between attempts: doubling from minDelayMs to maxDelayMs, at a random point in its upper half. */
export interface RetryOptions {
  /** The first wait, in milliseconds. Default 100. */
  minDelayMs?: number;
  /** The longest wait, in milliseconds. Default 10,000. */
  maxDelayMs?: number;
  /** Attempts in a row without an event before the subscription gives up with the last error. Default Infinity. */
  attempts?: number;
}

export interface RewindClientOptions {
  /** The GraphQL endpoint, http(s)://host/graphql; the WebSocket URL is derived from it. */
  url: string;
  /** 'ws' (graphql-transport-ws, the default) or 'sse' (GraphQL over SSE, distinct connections). */
  transport?: 'ws' | 'sse';
  /** Where cursors are kept. Default memoryCursorStore(). */
  cursorStore?: CursorStore;
  retry?: RetryOptions;
  /** The WebSocket's connection_init payload, e.g. {authorization: 'Bearer ...'}; a function is called on every connection. */
  connectionParams?: Record<string, unknown> | (() => Record<string, unknown> | Promise<Record<string, unknown>>);
  /** HTTP headers of SSE requests; a function is called on every attempt. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>);
  /** A WebSocket implementation where there is no global one (Node 20: the ws package). */
  webSocketImpl?: unknown;
  /** The fetch used for SSE. Default globalThis.fetch. */
  fetchFn?: typeof fetch;
  /** The variable the operation declares for the cursor (`$afterId: ID`). Default 'afterId'. */
  cursorVariable?: string;
  /**
   * Variables holding the operation's other start points. They are sent as
   * null once a cursor exists, since a cursor replaces them (two start
   * points are BAD_USER_INPUT). Default ['last', 'since', 'latest'].
   */
  startVariables?: string[];
  /** Called before each wait to retry, with the error that caused it. */
  onRetry?: (info: { key: string; attempt: number; delayMs: number; error: unknown }) => void;
}

/** A subscription request; TypedDocumentNode (graphql-codegen) types data and variables. */
export interface SubscribeRequest<TData = Record<string, unknown>, TVariables = Record<string, unknown>> {
  query: string | DocumentNode | TypedDocumentNode<TData, TVariables>;
  variables?: TVariables;
  operationName?: string;
  /**
   * The cursor's key in the store. Default: the operation's name and a hash
   * of its document and variables (without the cursor and start points), so
   * that two operations differ in key whenever they differ in what they
   * select. Subscriptions with one key share one upstream and one cursor.
   */
  key?: string;
  /** Finds the event id in a result. Default: the `id` of the first root field. */
  cursorOf?: (data: TData) => string | undefined;
}

/**
 * Sink receives results; the cursor advances when next returns, or when
 * the promise it returns resolves (results that arrive meanwhile wait, in
 * memory, in order), and, with several subscriptions on one key, once
 * every one's next has. A next that throws or rejects ends its
 * subscription with a RewindError coded SINK; alone on its key, the cursor
 * stays on the event before.
 */
export interface Sink<TData> {
  next(result: ExecutionResult<TData>): void | Promise<void>;
  error(error: RewindError | unknown): void;
  complete(): void;
}

export interface RewindClient {
  /**
   * subscribe runs the subscription until the returned function is called or
   * it fails for good. A subscription whose key is already running (by
   * default: the same document and variables) joins it: one upstream, one
   * cursor, each result to every sink, starting from where that one is.
   */
  subscribe<TData = Record<string, unknown>, TVariables = Record<string, unknown>>(
    request: SubscribeRequest<TData, TVariables>, sink: Sink<TData>): () => void;
  /** cursorKey is the key subscribe would use for request. */
  cursorKey(request: SubscribeRequest<any, any>): string;
  /** cursor returns the stored cursor of key. */
  cursor(key: string): Promise<string | undefined>;
  /** resetCursor forgets key's cursor: the next subscribe starts from the operation's own start point. */
  resetCursor(key: string): Promise<void>;
  /** dispose ends every subscription and closes the connection. */
  dispose(): Promise<void>;
}

/** A transport runs one attempt of one operation. */
interface Transport {
  subscribe(payload: Payload, sink: { next(r: ExecutionResult<any>): void; error(e: unknown): void; complete(): void }): () => void;
  dispose(): Promise<void> | void;
}

interface Payload {
  query: string;
  variables: Record<string, unknown>;
  operationName?: string;
}

export function createRewindClient(options: RewindClientOptions): RewindClient {
  const store = options.cursorStore ?? memoryCursorStore();
  const cursorVariable = options.cursorVariable ?? 'afterId';
  const startVariables = options.startVariables ?? ['last', 'since', 'latest'];
  const minDelay = options.retry?.minDelayMs ?? 100;
  const maxDelay = options.retry?.maxDelayMs ?? 10_000;
  const attempts = options.retry?.attempts ?? Infinity;
  const transport = options.transport === 'sse' ? sseTransport(options) : wsTransport(options);
  // The running subscription loop of each key.
  const loops = new Map<string, Loop>();
  // When the last loop of a key has ended: a new loop on that key waits for
  // it, so that it reads the cursor after the last one's final write.
  const ended = new Map<string, Promise<void>>();

  const backoff = (n: number) => {
    const d = Math.min(minDelay * 2 ** Math.min(n, 30), maxDelay);
    return d / 2 + Math.random() * (d / 2);
  };

  // identity is what makes two requests the same subscription: the
  // operation's tokens (not its formatting), which operation, and the
  // variables other than the cursor and start points, which apply to the
  // first subscribe only.
  const identity = (request: SubscribeRequest<any, any>) => {
    const vars = { ...(request.variables as Record<string, unknown> | undefined) };
    delete vars[cursorVariable];
    for (const v of startVariables) delete vars[v];
    return `${documentTokens(request.query)}\n${request.operationName ?? ''}\n${stableJSON(vars)}`;
  };

  const cursorKey = (request: SubscribeRequest<any, any>) => {
    if (request.key) return request.key;
    const name = request.operationName ?? operationName(request.query) ?? 'subscription';
    return `${name}:${fnv1a64(identity(request))}`;
  };

  function subscribe<TData, TVariables>(request: SubscribeRequest<TData, TVariables>, sink: Sink<TData>): () => void {
    const key = cursorKey(request);
    const query = queryText(request.query);
    if (!new RegExp(`\\$${cursorVariable}\\b`).test(query)) {
      throw new Error(`@rewind/client: the operation must declare $${cursorVariable}: ID and pass it as afterId, so that it can resume`);
    }
    const id = identity(request);
    let loop = loops.get(key);
    if (loop && loop.identity !== id) {
      throw new Error(`@rewind/client: the key ${JSON.stringify(key)} is in use by a running subscription to another operation or variables; give each its own key, or none`);
    }
    if (!loop) {
      loop = startLoop(key, id, query, request as SubscribeRequest<any, any>);
      loops.set(key, loop);
    }
    return loop.join(sink as Sink<any>);
  }

  /**
   * A Loop is the one upstream subscription of a key, shared by every
   * subscribe call on it: each result goes to every sink joined, and the
   * cursor advances when all of them have processed it, so that after a
   * reload none of them has missed an event. It ends when the last sink
   * leaves or fails, or on an error retrying cannot fix.
   */
  interface Loop {
    identity: string;
    join(sink: Sink<any>): () => void;
    stop(): void;
  }

  function startLoop(key: string, identity: string, query: string, request: SubscribeRequest<any, any>): Loop {
    const sinks = new Set<Sink<any>>();
    const cursorOf = request.cursorOf ?? ((data: unknown) => firstRootId(data));
    let stopped = false;
    let cancelAttempt: (() => void) | undefined;
    let wake: (() => void) | undefined;
    // The cursor of this key, once read from the store.
    let last: string | undefined;
    // Results wait here while an asynchronous next is still running, so
    // that the cursor only ever advances in order.
    let queue: Promise<void> | undefined;

    const stop = () => {
      if (stopped) return;
      stopped = true;
      if (loops.get(key) === loop) loops.delete(key);
      cancelAttempt?.();
      wake?.();
    };

    const leave = (sink: Sink<any>) => {
      sinks.delete(sink);
      if (sinks.size === 0) stop();
    };

    // end gives every sink the loop's end, once.
    const end = (each: (sink: Sink<any>) => void) => {
      if (stopped) return;
      const all = [...sinks];
      sinks.clear();
      stop();
      for (const sink of all) each(sink);
    };
    const fail = (err: unknown) => end((sink) => sink.error(err));

    // record stores the cursor of a processed result; a store that fails
    // ends the subscription, since its cursor would no longer be kept.
    const record = (data: unknown): void | Promise<void> => {
      const id = data ? cursorOf(data) : undefined;
      if (!id) return;
      last = id;
      const storeError = (err: unknown) => new RewindError('CURSOR_STORE', key, `store cursor ${id}`, 'check the cursor store (full? blocked?)', { cause: err });
      try {
        const done = store.set(key, id);
        if (isThenable(done)) return done.then(undefined, (err) => Promise.reject(storeError(err)));
      } catch (err) {
        throw storeError(err);
      }
    };

    // deliver hands a result to every sink and, once each next has
    // returned (or its promise resolved), records the cursor. A sink whose
    // next fails leaves with a SINK error; the others go on.
    const deliver = (result: ExecutionResult<unknown>): void | Promise<void> => {
      const sinkFailed = (sink: Sink<any>, err: unknown) => {
        if (!sinks.has(sink)) return;
        leave(sink);
        sink.error(new RewindError('SINK', key, 'the subscription\'s next failed', 'handle errors inside next', { cause: err }));
      };
      let processed = 0;
      const pending: Promise<void>[] = [];
      for (const sink of [...sinks]) {
        let done: void | Promise<void>;
        try {
          done = sink.next(result);
        } catch (err) {
          sinkFailed(sink, err);
          continue;
        }
        if (isThenable(done)) pending.push(done.then(() => void processed++, (err) => sinkFailed(sink, err)));
        else processed++;
      }
      const advance = () => (processed > 0 ? record(result.data) : undefined);
      return pending.length > 0 ? Promise.all(pending).then(advance) : advance();
    };

    const run = async () => {
      let failures = 0;
      const initial = (request.variables as Record<string, unknown> | undefined)?.[cursorVariable] as string | undefined;
      // Read before this loop's own end is registered below: the previous
      // loop's.
      await ended.get(key);
      try {
        last = (await store.get(key)) ?? undefined;
      } catch (err) {
        return fail(new RewindError('CURSOR_STORE', key, 'read the cursor', 'check the cursor store', { cause: err }));
      }
      while (!stopped) {
        const cursor = last ?? initial;
        const variables: Record<string, unknown> = { ...(request.variables as Record<string, unknown> | undefined) };
        if (cursor !== undefined) {
          variables[cursorVariable] = cursor;
          if (last !== undefined) for (const v of startVariables) if (v in variables) variables[v] = null;
        }
        const outcome = await new Promise<{ error?: unknown; completed?: boolean; progressed: boolean }>((resolve) => {
          let progressed = false;
          let settled = false;
          let dispose: (() => void) | undefined;
          const settle = (o: { error?: unknown; completed?: boolean }) => {
            if (settled) return;
            settled = true;
            cancelAttempt = undefined;
            dispose?.();
            resolve({ ...o, progressed });
          };
          cancelAttempt = () => settle({});
          dispose = transport.subscribe({ query, variables, operationName: request.operationName }, {
            next: (result: ExecutionResult<unknown>) => {
              if (settled || stopped) return;
              if (result.errors?.length && result.data == null) return settle({ error: result.errors });
              progressed = true;
              const handle = () => (stopped ? undefined : deliver(result));
              // A result is handled at once unless an asynchronous next is
              // still running (then it waits its turn), so with synchronous
              // sinks and store (localStorage) the cursor is stored before
              // the next task runs: a reload cannot come between the app's
              // processing and the cursor.
              let p: void | Promise<void>;
              try {
                p = queue ? queue.then(handle) : handle();
              } catch (err) {
                return fail(err);
              }
              if (p) {
                const tracked: Promise<void> = p.catch(fail).then(() => {
                  if (queue === tracked) queue = undefined;
                });
                queue = tracked;
              }
            },
            error: (error) => settle({ error }),
            complete: () => settle({ completed: true }),
          });
          if (settled) dispose();
        });
        if (stopped) return;
        await queue;
        if (outcome.completed) return end((sink) => sink.complete());
        const err = classify(outcome.error, key, cursor);
        if (err) return fail(err);
        failures = outcome.progressed ? 1 : failures + 1;
        if (failures > attempts) return fail(outcome.error);
        const delayMs = backoff(failures - 1);
        options.onRetry?.({ key, attempt: failures, delayMs, error: outcome.error });
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    };

    const loop: Loop = {
      identity,
      join: (sink) => {
        sinks.add(sink);
        return () => leave(sink);
      },
      stop,
    };
    const done = run().then(() => queue);
    const settledDone = done.then(() => {
      if (ended.get(key) === settledDone) ended.delete(key);
    });
    ended.set(key, settledDone);
    return loop;
  }

  return {
    subscribe,
    cursorKey,
    cursor: async (key) => (await store.get(key)) ?? undefined,
    resetCursor: async (key) => {
      await store.delete(key);
    },
    dispose: async () => {
      for (const loop of [...loops.values()]) loop.stop();
      await transport.dispose();
    },
  };
}

/**
 * classify returns the error to give the app if err is one that retrying
 * cannot fix, or undefined to retry.
 */
function classify(err: unknown, key: string, cursor: string | undefined): RewindError | undefined {
  if (err instanceof RewindError) return err;
  if (Array.isArray(err)) {
    const errors = err as GraphQLFormattedError[];
    const code = String(errors[0]?.extensions?.code ?? '');
    if (retryableCodes.has(code)) return undefined;
    if ((code === 'CURSOR_EXPIRED' || code === 'CURSOR_NOT_FOUND') && cursor !== undefined) {
      return new CursorError(code, key, cursor, errors);
    }
    return new RequestError(code || 'GRAPHQL_ERROR', key, errors);
  }
  if (isCloseEvent(err)) {
    return fatalCloseCodes.has(err.code) ? new CloseError(key, err.code, err.reason) : undefined;
  }
  if (err instanceof NetworkError && err.response) {
    const status = err.response.status;
    if (status >= 400 && status < 500 && status !== 408 && status !== 429) return new HTTPError(key, status, '');
  }
  return undefined; // network failures, abnormal closes, a server going away
}

function isThenable(v: unknown): v is Promise<void> {
  return typeof (v as { then?: unknown } | null | undefined)?.then === 'function';
}

function isCloseEvent(e: unknown): e is { code: number; reason: string } {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'number' && 'reason' in e;
}

function wsTransport(options: RewindClientOptions): Transport {
  const url = new URL(options.url);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  const client: WSClient = createWSClient({
    url: url.href,
    webSocketImpl: options.webSocketImpl,
    connectionParams: options.connectionParams,
    // The client's loop retries, so that every attempt carries the latest cursor.
    retryAttempts: 0,
    lazy: true,
  });
  return {
    subscribe: (payload, sink) => client.subscribe(payload, sink),
    dispose: () => client.dispose(),
  };
}

function sseTransport(options: RewindClientOptions): Transport {
  const client: SSEClient = createSSEClient({
    url: options.url,
    singleConnection: false,
    retryAttempts: 0,
    headers: options.headers,
    fetchFn: options.fetchFn,
  });
  return {
    subscribe: (payload, sink) => client.subscribe(payload, sink),
    dispose: () => client.dispose(),
  };
}

function queryText(query: string | DocumentNode): string {
  if (typeof query === 'string') return query;
  return print(query); // with what the app's client added (Apollo: __typename)
}

/**
 * documentTokens is the operation as GraphQL reads it: its tokens, one
 * space apart, without whitespace, commas and comments, so that the
 * default key follows what the operation selects, not how it is written
 * or which printer wrote it.
 */
function documentTokens(query: string | DocumentNode): string {
  const text = queryText(query);
  try {
    const lexer = new Lexer(new Source(text));
    const tokens: string[] = [];
    for (let t = lexer.advance(); t.kind !== TokenKind.EOF; t = lexer.advance()) {
      tokens.push(t.kind === TokenKind.STRING || t.kind === TokenKind.BLOCK_STRING ? JSON.stringify(t.value) : (t.value ?? t.kind));
    }
    return tokens.join(' ');
  } catch {
    return text; // the server will say what is wrong with it
  }
}

/** fnv1a64 is the 64-bit FNV-1a hash of s's UTF-8 bytes, in hex. */
function fnv1a64(s: string): string {
  let h = 0xcbf29ce484222325n;
  for (const byte of new TextEncoder().encode(s)) {
    h = ((h ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

function operationName(query: string | DocumentNode): string | undefined {
  if (typeof query === 'string') return /\b(?:subscription|query|mutation)\s+([_A-Za-z][_0-9A-Za-z]*)/.exec(query)?.[1];
  for (const def of query.definitions) {
    if (def.kind === 'OperationDefinition' && def.name) return def.name.value;
  }
  return undefined;
}

function firstRootId(data: unknown): string | undefined {
  if (!data || typeof data !== 'object') return undefined;
  for (const value of Object.values(data)) {
    const id = (value as { id?: unknown } | null)?.id;
    if (typeof id === 'string') return id;
  }
  return undefined;
}

function stableJSON(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJSON).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJSON((v as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
