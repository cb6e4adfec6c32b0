// Subscriptions that outlive GraphiQL's tabs. GraphiQL 5 stops the running
// operation whenever the active tab changes (its changeTab action calls
// stop(), which unsubscribes the fetcher's result), so a subscription run
// in one tab would end as soon as another tab is opened. Here each
// subscription runs in a stream owned by this store, one per tab; GraphiQL
// gets a view of it. When GraphiQL drops the view because the tab changed,
// the stream goes on; when it drops it because the user pressed stop, or
// the tab was closed, the stream ends. A stream also resumes by itself
// after a dropped connection, after the last event it received, as any
// Rewind client should.
import { createClient } from 'graphql-ws';
import { Kind, parse, print, visit } from 'graphql';

// The most rows (events and marks) a stream keeps for the stream view; its
// counts go on.
const keepRows = 5000;
// The longest preview of an event's data on its (collapsed) row.
const previewLength = 160;

// Close codes after which reconnecting cannot help (README: close codes).
const fatalCloses = new Set([1002, 1003, 1007, 1008, 1009, 1010, 4400, 4401, 4403, 4406, 4409, 4429]);
// Operation errors that the next attempt can get past.
const retryableCodes = new Set(['SLOW_CONSUMER', 'UNAVAILABLE', 'RATE_LIMITED', 'TOO_MANY_SUBSCRIPTIONS', 'INTERNAL_SERVER_ERROR']);

/**
 * createStreams returns the store. wsURL is the graphql-transport-ws
 * endpoint; connection_init carries the Headers tab, as GraphiQL's own
 * fetcher does.
 */
export function createStreams(wsURL) {
  const streams = new Map(); // tab id -> stream
  const listeners = new Set();
  let version = 0;
  let tabs = { ids: new Set(), active: undefined, changes: 0 };
  // The schema says which fields the stream view can add; a subscription
  // run before GraphiQL's introspection answered waits for it (briefly);
  // without one, Rewind's own subscriptions' fields are known.
  let schema;
  let schemaKnown;
  const schemaReady = new Promise((resolve) => (schemaKnown = resolve));
  const waitSchema = () => Promise.race([schemaReady, new Promise((r) => setTimeout(r, 3000))]).then(() => schema);

  const changed = () => {
    version++;
    for (const l of listeners) l();
  };

  const store = {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    version: () => version,
    get: (tabId) => streams.get(tabId),
    activeTab: () => tabs.active,
    all: () => [...streams.values()],
    /** setSchema passes GraphiQL's schema; settled once introspection answered or failed. */
    setSchema(s, settled) {
      schema = s;
      if (settled) schemaKnown();
    },

    /** tabsChanged records GraphiQL's tabs (ids, active one); streams of closed tabs end. */
    tabsChanged(ids, active) {
      const switched = active !== tabs.active;
      tabs = { ids: new Set(ids), active, changes: tabs.changes + (switched ? 1 : 0) };
      for (const [id, s] of streams) if (!tabs.ids.has(id)) s.stop();
      if (switched) changed();
    },

    /**
     * fetch runs a subscription for GraphiQL: it (re)starts the active tab's
     * stream, unless that stream already runs this very request (GraphiQL
     * re-running it when the tab is shown again), and returns a view.
     */
    fetch(params, headers, tabId) {
      let s = streams.get(tabId);
      const same = s && s.running() && s.request.query === params.query && JSON.stringify(s.request.variables ?? {}) === JSON.stringify(params.variables ?? {});
      if (!same) {
        s?.stop();
        const stream = (s = new Stream(changed, wsURL, tabId, params, headers));
        streams.set(tabId, stream);
        stream.status = 'connecting';
        waitSchema().then((known) => {
          if (stream.status !== 'connecting') return; // stopped meanwhile
          try {
            stream.prepared = prepare(params.query, params.operationName, known);
          } catch (err) {
            stream.status = 'failed';
            stream.error = String(err?.message ?? err);
            return changed();
          }
          stream.start();
        });
      }
      return s.view(() => tabs.changes);
    },
  };
  return store;
}

/** isSubscription reports whether the operation GraphiQL runs is a subscription. */
export function isSubscription(query, operationName) {
  try {
    return pickOperation(parse(query), operationName)?.operation === 'subscription';
  } catch {
    return false; // GraphiQL's fetcher reports the syntax error
  }
}

/**
 * withOperationName corrects params whose operationName names no operation
 * of the query, as GraphiQL sends for a moment after a tab switch (its
 * operation name is updated after the editor's content): with one
 * operation in the query, that one is meant.
 */
export function withOperationName(params) {
  let ops;
  try {
    ops = parse(params.query).definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  } catch {
    return params;
  }
  if (!params.operationName || ops.some((o) => o.name?.value === params.operationName) || ops.length !== 1) return params;
  return { ...params, operationName: ops[0].name?.value };
}

/**
 * shallowIntrospection cuts the ofType chain of GraphiQL's introspection
 * query (nine levels, 15 deep) to six, which is 12 deep: within Rewind's
 * default --max-depth, and still enough for any type a schema writes
 * ([[T!]!]! needs five). Other operations pass unchanged.
 */
export function shallowIntrospection(params, levels = 6) {
  if (params.operationName !== 'IntrospectionQuery' || !params.query.includes('__schema')) return params;
  let doc;
  try {
    doc = parse(params.query);
  } catch {
    return params;
  }
  const cut = (selectionSet, depth) => ({
    ...selectionSet,
    selections: selectionSet.selections.flatMap((sel) => {
      if (sel.kind !== Kind.FIELD || sel.name.value !== 'ofType' || !sel.selectionSet) return [sel];
      return depth >= levels ? [] : [{ ...sel, selectionSet: cut(sel.selectionSet, depth + 1) }];
    }),
  });
  const shallow = visit(doc, {
    FragmentDefinition(node) {
      return node.name.value === 'TypeRef' ? { ...node, selectionSet: cut(node.selectionSet, 0) } : undefined;
    },
  });
  return { ...params, query: print(shallow) };
}

function pickOperation(doc, operationName) {
  const ops = doc.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  return operationName ? ops.find((o) => o.name?.value === operationName) : ops[0];
}

class Stream {
  constructor(changed, wsURL, tabId, request, headers) {
    this.changed = changed;
    this.wsURL = wsURL;
    this.tabId = tabId;
    this.request = request; // as GraphiQL sent it
    this.headers = headers;
    this.title = request.operationName || 'subscription';
    // rows are what the stream view lists, oldest first: events and the
    // marks of reconnections and resumes; key orders them across resumes.
    this.rows = [];
    this.key = 0;
    this.lastId = undefined; // the last event's id: where a retry resumes
    this.retrying = false; // the current attempt is a reconnection
    this.total = 0;
    this.replayed = 0;
    this.live = 0;
    this.status = 'idle';
    this.error = undefined;
    this.attempts = 0;
    this.lastResult = undefined;
    this.resumedAfter = undefined;
    this.views = new Set();
    this.prepared = undefined; // set before start
  }

  running() {
    return this.status === 'connecting' || this.status === 'live' || this.status === 'reconnecting';
  }

  /** start (re)subscribes; with after, from that event id on, whatever the operation's own start point. */
  start(after) {
    this.stopAttempt();
    this.status = 'connecting';
    this.error = undefined;
    const query = after ? print(resumeAfter(this.prepared.doc, this.prepared.operationName, after)) : print(this.prepared.doc);
    const client = (this.client = createClient({
      url: this.wsURL,
      connectionParams: this.headers ?? {},
      retryAttempts: 0, // the stream retries, after its last event
      lazy: true,
      on: { connected: () => this.client === client && this.onConnected(after) },
    }));
    const variables = after ? usedVariables(query, this.request.variables) : this.request.variables;
    // A disposed attempt may still report its end: only the current one counts.
    this.dispose = client.subscribe({ query, variables, operationName: this.request.operationName }, {
      next: (result) => this.client === client && this.onResult(result),
      error: (err) => this.client === client && this.onError(err),
      complete: () => {
        if (this.client !== client) return;
        this.status = 'completed';
        this.stopAttempt();
        for (const v of this.views) v.complete?.();
        this.changed();
      },
    });
    this.changed();
  }

  /** resumeFrom restarts the stream after the event with id: its events from then on replace the list. */
  resumeFrom(id) {
    this.rows = [];
    this.total = this.replayed = this.live = 0;
    this.resumedAfter = id;
    this.lastId = undefined;
    this.attempts = 0;
    this.retrying = false;
    this.mark('resume', `resumed after ${id}`);
    this.start(id);
  }

  /** mark adds a row that is no event: a reconnection, a resume. */
  mark(kind, text) {
    this.push({ kind, key: ++this.key, text, at: new Date().toISOString() });
  }

  push(row) {
    this.rows.push(row);
    if (this.rows.length > keepRows) this.rows.splice(0, this.rows.length - keepRows);
  }

  onConnected(after) {
    if (!this.retrying) return;
    this.retrying = false;
    this.mark('resumed', after ? `reconnected: resuming after ${after}` : 'reconnected: starting again (no event received yet)');
    this.changed();
  }

  stop() {
    if (!this.running() && this.status !== 'idle') return;
    this.stopAttempt();
    this.status = 'stopped';
    this.changed();
  }

  stopAttempt() {
    clearTimeout(this.retryTimer);
    this.dispose?.();
    this.client?.dispose();
    this.dispose = this.client = undefined;
  }

  onResult(result) {
    if (result.errors?.length && result.data == null) return this.onError(result.errors);
    this.status = 'live';
    this.attempts = 0;
    this.lastResult = this.prepared.strip(result);
    const value = result.data?.[this.prepared.rootKey];
    if (value && typeof value === 'object') {
      // The row shows the event's data field, or else what the operation
      // selected (realTimeMessages' content, say), as the user wrote it.
      const selected = this.lastResult.data[this.prepared.rootKey];
      const data = 'data' in selected ? selected.data : selected;
      const ev = {
        kind: 'event',
        key: ++this.key,
        n: ++this.total,
        id: value.id,
        time: value.time ?? value.timestamp,
        live: value.live,
        topic: value.topic,
        type: value.type,
        at: new Date().toISOString(),
        data,
        preview: preview(data),
      };
      if (ev.live === true) this.live++;
      else if (ev.live === false) this.replayed++;
      if (ev.id) this.lastId = ev.id;
      this.push(ev);
    }
    for (const v of this.views) v.next(this.lastResult);
    this.changed();
  }

  onError(err) {
    const last = this.lastId ?? this.resumedAfter;
    if (retryable(err) && (last || this.total === 0)) {
      this.stopAttempt();
      // One mark for a reconnection, however many attempts it takes.
      const text = `connection lost (${describe(err)}); reconnecting`;
      const previous = this.rows.at(-1);
      if (this.status === 'reconnecting' && previous?.kind === 'reconnect') {
        previous.attempts = (previous.attempts ?? 1) + 1;
        previous.text = `${text} (attempt ${previous.attempts})`;
      } else {
        this.mark('reconnect', text);
      }
      this.retrying = true;
      this.status = 'reconnecting';
      this.attempts++;
      const wait = Math.min(250 * 2 ** Math.min(this.attempts - 1, 5), 5000) * (0.5 + Math.random() / 2);
      this.retryTimer = setTimeout(() => (last ? this.start(last) : this.start()), wait);
      this.changed();
      return;
    }
    this.stopAttempt();
    this.status = 'failed';
    this.error = describe(err);
    for (const v of this.views) v.error?.(Array.isArray(err) ? { errors: err } : err);
    this.changed();
  }

  /**
   * view is what GraphiQL subscribes to. Its unsubscribe ends the stream
   * only if no tab change came with it: GraphiQL's changeTab stops the
   * operation and then reports the new tab, in one synchronous call.
   */
  view(tabChanges) {
    const stream = this;
    return {
      subscribe(observer) {
        stream.views.add(observer);
        if (stream.lastResult) queueMicrotask(() => stream.views.has(observer) && observer.next(stream.lastResult));
        const before = tabChanges();
        return {
          unsubscribe() {
            stream.views.delete(observer);
            queueMicrotask(() => {
              if (tabChanges() === before) stream.stop();
            });
          },
        };
      },
    };
  }
}

/** preview is data on one line, cut to previewLength characters. */
function preview(data) {
  let text;
  try {
    text = JSON.stringify(data);
  } catch {
    text = String(data);
  }
  if (text === undefined) return '';
  return text.length > previewLength ? `${text.slice(0, previewLength - 1)}…` : text;
}

function retryable(err) {
  if (Array.isArray(err)) return retryableCodes.has(err[0]?.extensions?.code);
  if (err && typeof err.code === 'number' && 'reason' in err) return !fatalCloses.has(err.code);
  return true; // a network error: the server may be restarting
}

function describe(err) {
  if (Array.isArray(err)) return err.map((e) => `${e.extensions?.code ?? 'ERROR'}: ${e.message}`).join('; ');
  if (err && typeof err.code === 'number') return `connection closed ${err.code} ${err.reason ?? ''}`.trim();
  return String(err?.message ?? err);
}

/**
 * prepare parses the subscription and adds to its root field what the
 * stream view shows (id, time, live) when the schema has it and the
 * operation does not select it; strip removes those from what GraphiQL
 * shows, so its response pane answers exactly the query the user wrote.
 */
function prepare(query, operationName, schema) {
  const doc = parse(query);
  const op = pickOperation(doc, operationName);
  const root = op?.selectionSet.selections.find((s) => s.kind === Kind.FIELD && s.name.value !== '__typename');
  if (!root) return { doc, operationName, rootKey: undefined, strip: (r) => r };
  const rootKey = root.alias?.value ?? root.name.value;
  const fields = fieldsOf(schema, root.name.value);
  const selected = new Set((root.selectionSet?.selections ?? []).filter((s) => s.kind === Kind.FIELD && !s.alias).map((s) => s.name.value));
  const added = ['id', 'time', 'timestamp', 'live', 'topic'].filter((f) => f in fields && !selected.has(f));
  if (!added.length || !root.selectionSet) return { doc, operationName, rootKey, strip: (r) => r };
  const withFields = visit(doc, {
    Field(node) {
      if (node !== root) return undefined;
      return {
        ...node,
        selectionSet: {
          ...node.selectionSet,
          selections: [...node.selectionSet.selections, ...added.map((f) => ({ kind: Kind.FIELD, name: { kind: Kind.NAME, value: f } }))],
        },
      };
    },
  });
  const strip = (result) => {
    const value = result.data?.[rootKey];
    if (!value || typeof value !== 'object') return result;
    const copy = { ...value };
    for (const f of added) delete copy[f];
    return { ...result, data: { ...result.data, [rootKey]: copy } };
  };
  return { doc: withFields, operationName, rootKey, strip };
}

// The fields of Rewind's own subscriptions, for when GraphiQL has no schema.
const rewindFields = {
  events: ['id', 'topic', 'time', 'live'],
  realTimeMessages: ['id', 'timestamp'],
};

function fieldsOf(schema, rootField) {
  let type = schema?.getSubscriptionType()?.getFields()[rootField]?.type;
  while (type?.ofType) type = type.ofType;
  if (typeof type?.getFields === 'function') return type.getFields();
  return Object.fromEntries((rewindFields[rootField] ?? []).map((f) => [f, true]));
}

/**
 * resumeAfter rewrites the operation's root field to start after id:
 * afterId set to it, the other start points (last, since, latest)
 * removed, and the variable definitions that are no longer used dropped.
 */
export function resumeAfter(doc, operationName, id) {
  const op = pickOperation(doc, operationName);
  const root = op?.selectionSet.selections.find((s) => s.kind === Kind.FIELD && s.name.value !== '__typename');
  const startPoints = new Set(['afterId', 'last', 'since', 'latest']);
  let rewritten = visit(doc, {
    Field(node) {
      if (node !== root) return undefined;
      return {
        ...node,
        arguments: [
          ...(node.arguments ?? []).filter((a) => !startPoints.has(a.name.value)),
          { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'afterId' }, value: { kind: Kind.STRING, value: id } },
        ],
      };
    },
  });
  const used = new Set();
  visit(rewritten, {
    VariableDefinition: () => false, // its own $name is not a use
    Variable(node) {
      used.add(node.name.value);
    },
  });
  rewritten = visit(rewritten, {
    VariableDefinition(node) {
      return used.has(node.variable.name.value) ? undefined : null;
    },
  });
  return rewritten;
}

function usedVariables(query, variables) {
  if (!variables) return variables;
  const defined = new Set();
  visit(parse(query), {
    VariableDefinition(node) {
      defined.add(node.variable.name.value);
    },
  });
  return Object.fromEntries(Object.entries(variables).filter(([k]) => defined.has(k)));
}
