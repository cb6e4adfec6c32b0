// The stream view (a GraphiQL plugin) and the status line under the
// response: every event a subscription received, in order, with its id,
// time and a replayed/live mark, the counts, and "resume from here".
import { useEffect, useSyncExternalStore } from 'react';
import { useGraphiQL, useGraphiQLActions } from '@graphiql/react';

function useStreams(streams) {
  useSyncExternalStore(streams.subscribe, streams.version);
  return streams;
}

/** The stream shown: the active tab's, else the one started last. */
function shown(streams) {
  return streams.get(streams.activeTab()) ?? streams.all().at(-1);
}

const statusText = {
  connecting: 'connecting',
  live: 'running',
  reconnecting: 'reconnecting',
  stopped: 'stopped',
  failed: 'failed',
  completed: 'completed',
};

export function StreamIcon(props) {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" {...props}>
      <path d="M3 6h12M3 12h18M3 18h8" strokeLinecap="round" />
      <circle cx="19" cy="6" r="2" />
      <circle cx="15" cy="18" r="2" />
    </svg>
  );
}

export function StreamView({ streams }) {
  useStreams(streams);
  const s = shown(streams);
  if (!s) {
    return (
      <div className="rewind-stream">
        <div className="graphiql-doc-explorer-title">Stream</div>
        <p className="rewind-stream-empty">Run a subscription (the Follow tab): every event it receives is listed here, and it keeps running when you switch tabs.</p>
      </div>
    );
  }
  const events = [...s.events].reverse(); // newest first
  return (
    <div className="rewind-stream" data-status={s.status}>
      <div className="graphiql-doc-explorer-title">Stream · {s.title}</div>
      <div className="rewind-stream-summary">
        <span className={`rewind-stream-status rewind-${s.status}`}>{statusText[s.status] ?? s.status}</span>
        <span className="rewind-stream-count" data-count={s.total}>{s.total} {s.total === 1 ? 'event' : 'events'}</span>
        <span>{s.replayed} replayed</span>
        <span>{s.live} live</span>
        {s.running() ? (
          <button type="button" className="graphiql-button" onClick={() => s.stop()}>Stop</button>
        ) : s.events.length > 0 ? (
          <button type="button" className="graphiql-button" onClick={() => s.resumeFrom(s.events.at(-1).id)}>Resume</button>
        ) : null}
      </div>
      {s.resumedAfter && <div className="rewind-stream-note">resumed after {s.resumedAfter}</div>}
      {s.error && <div className="rewind-stream-error">{s.error}</div>}
      <ol className="rewind-stream-events" reversed start={s.total}>
        {events.map((ev) => (
          <li key={ev.n} className="rewind-event" data-id={ev.id} data-live={String(ev.live)}>
            <div className="rewind-event-head">
              <span className="rewind-event-n">{ev.n}</span>
              <span className={`rewind-mark rewind-mark-${ev.live === true ? 'live' : ev.live === false ? 'replayed' : 'unknown'}`}>
                {ev.live === true ? 'live' : ev.live === false ? 'replayed' : '·'}
              </span>
              <code className="rewind-event-id" title="event id">{ev.id ?? '(no id)'}</code>
            </div>
            <div className="rewind-event-foot">
              <time className="rewind-event-time" dateTime={ev.time ?? ev.at} title={ev.time ? 'event time (UTC)' : 'received (UTC)'}>
                {clock(ev.time ?? ev.at)}{ev.topic ? ` · ${ev.topic}` : ''}
              </time>
              {ev.id && (
                <button type="button" className="rewind-resume" title={`restart the subscription with afterId: "${ev.id}"`} onClick={() => s.resumeFrom(ev.id)}>
                  resume from here
                </button>
              )}
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}

function clock(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toISOString().slice(11, 23);
}

/**
 * StreamStatus sits under the response. It tells the store which tab is
 * active and the schema, shows the active tab's stream, and when a tab
 * whose stream still runs is shown again, runs it in GraphiQL once more:
 * the store sees the same request and attaches GraphiQL to the running
 * stream instead of starting another.
 */
export function StreamStatus({ streams }) {
  useStreams(streams);
  const tabs = useGraphiQL((st) => st.tabs);
  const activeTabIndex = useGraphiQL((st) => st.activeTabIndex);
  const schema = useGraphiQL((st) => st.schema);
  const introspectionFailed = useGraphiQL((st) => Boolean(st.fetchError));
  const isFetching = useGraphiQL((st) => st.isFetching);
  const subscription = useGraphiQL((st) => st.subscription);
  const queryEditor = useGraphiQL((st) => st.queryEditor);
  const { run } = useGraphiQLActions();
  const activeId = tabs[activeTabIndex]?.id;
  useEffect(() => streams.setSchema(schema ?? undefined, Boolean(schema) || introspectionFailed), [streams, schema, introspectionFailed]);
  useEffect(() => streams.tabsChanged(tabs.map((t) => t.id), activeId), [streams, tabs, activeId]);
  const s = streams.get(activeId);
  // Only the very operation the stream runs is run again: an edited one
  // waits for the user to press run.
  const detached = s?.running() && s.views.size === 0 && !subscription && !isFetching && queryEditor?.getValue() === s.request.query;
  useEffect(() => {
    if (detached) run();
  }, [detached, activeId, run]);
  if (!s) return null;
  return (
    <div className="rewind-stream-footer" data-status={s.status}>
      {s.title}: {statusText[s.status] ?? s.status} · {s.total} {s.total === 1 ? 'event' : 'events'}
      {s.total ? ` (${s.replayed} replayed, ${s.live} live)` : ''}
      {streams.all().filter((o) => o !== s && o.running()).length > 0 && ` · ${streams.all().filter((o) => o !== s && o.running()).length} more running in other tabs`}
    </div>
  );
}
