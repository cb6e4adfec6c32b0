// The stream view (a GraphiQL plugin) and the status line under the
// response: every event a subscription received, oldest first, following
// the newest, with its id, time, topic, type, a replayed/live mark and its
// data (collapsed, expandable), the marks of reconnections and resumes,
// the counts, and "resume from here".
import { memo, useCallback, useEffect, useLayoutEffect, useRef, useState, useSyncExternalStore } from 'react';
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

/**
 * streamIcon is the sidebar button's face: the icon with its name under it
 * (GraphiQL shows plugins as bare icons, with the name only in a tooltip),
 * and a dot while a subscription runs.
 */
export function streamIcon(streams) {
  return function StreamIcon(props) {
    useStreams(streams);
    const running = streams.all().some((s) => s.running());
    return (
      <span className="rewind-stream-icon" data-running={String(running)} {...props}>
        <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5">
          <path d="M3 6h12M3 12h18M3 18h8" strokeLinecap="round" />
          <circle cx="19" cy="6" r="2" />
          <circle cx="15" cy="18" r="2" />
        </svg>
        <span className="rewind-stream-icon-label">Stream</span>
      </span>
    );
  };
}

export function StreamView({ streams }) {
  useStreams(streams);
  const s = shown(streams);
  if (!s) {
    return (
      <div className="rewind-stream">
        <div className="graphiql-doc-explorer-title">Stream</div>
        <p className="rewind-stream-empty">Run a subscription (the Follow tab): every event it receives is listed here, oldest first, and it keeps running when you switch tabs.</p>
      </div>
    );
  }
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
        ) : s.lastId ? (
          <button type="button" className="graphiql-button" onClick={() => s.resumeFrom(s.lastId)}>Resume</button>
        ) : null}
      </div>
      {s.error && <div className="rewind-stream-error">{s.error}</div>}
      <Rows stream={s} rows={s.rows} />
    </div>
  );
}

/**
 * Rows lists a stream's rows oldest first and follows the newest: while the
 * list is scrolled to its end it stays there as rows arrive; scrolled up
 * (to read), it stays put and offers a way back down.
 */
function Rows({ stream, rows }) {
  const list = useRef(null);
  const [following, setFollowing] = useState(true);
  const newest = rows.at(-1)?.key;
  const toEnd = useCallback(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, []);
  useLayoutEffect(() => {
    if (following) toEnd();
  }, [following, newest, stream, toEnd]);
  // The panel may get its height after the rows (when it opens): keep to
  // the end then too.
  useEffect(() => {
    if (!following || !list.current) return undefined;
    const observer = new ResizeObserver(toEnd);
    observer.observe(list.current);
    return () => observer.disconnect();
  }, [following, toEnd]);
  const onScroll = () => {
    const el = list.current;
    if (el) setFollowing(el.scrollHeight - el.scrollTop - el.clientHeight < 8);
  };
  return (
    <div className="rewind-stream-list">
      <ol className="rewind-stream-events" ref={list} onScroll={onScroll}>
        {rows.map((row) =>
          row.kind === 'event' ? (
            <EventRow key={row.key} ev={row} stream={stream} />
          ) : (
            <li key={row.key} className="rewind-stream-mark" data-kind={row.kind} title={row.at}>
              {row.text}
            </li>
          ),
        )}
      </ol>
      {!following && (
        // Over the list, so that showing it moves nothing under the pointer.
        <button type="button" className="rewind-stream-newest" onClick={() => setFollowing(true)}>
          newest ↓
        </button>
      )}
    </div>
  );
}

// EventRow re-renders only when its event does (rows are immutable once
// listed), so a long list costs nothing per new event but the new row.
const EventRow = memo(function EventRow({ ev, stream }) {
  const [open, setOpen] = useState(false);
  return (
    <li className="rewind-event" data-id={ev.id} data-live={String(ev.live)}>
      <div className="rewind-event-head">
        <span className="rewind-event-n">{ev.n}</span>
        <span className={`rewind-mark rewind-mark-${ev.live === true ? 'live' : ev.live === false ? 'replayed' : 'unknown'}`}>
          {ev.live === true ? 'live' : ev.live === false ? 'replayed' : '·'}
        </span>
        <code className="rewind-event-id" title="event id">{ev.id ?? '(no id)'}</code>
      </div>
      <div className="rewind-event-foot">
        <time className="rewind-event-time" dateTime={ev.time ?? ev.at} title={ev.time ? 'event time (UTC)' : 'received (UTC)'}>
          {clock(ev.time ?? ev.at)}
          {ev.topic ? ` · ${ev.topic}` : ''}
          {ev.type ? ` · ${ev.type}` : ''}
        </time>
        {ev.id && (
          <button type="button" className="rewind-resume" title={`restart the subscription with afterId: "${ev.id}"`} onClick={() => stream.resumeFrom(ev.id)}>
            resume from here
          </button>
        )}
      </div>
      <details className="rewind-event-data" open={open} onToggle={(e) => setOpen(e.currentTarget.open)}>
        <summary title="show the data">{ev.preview}</summary>
        {open && <pre>{pretty(ev.data)}</pre>}
      </details>
    </li>
  );
});

function pretty(data) {
  try {
    return JSON.stringify(data, null, 2) ?? String(data);
  } catch {
    return String(data);
  }
}

// openPanel opens the Stream panel as its sidebar button does: GraphiQL's
// setVisiblePlugin alone leaves the panel's pane collapsed, and the pane
// is the sidebar's to show.
function openPanel() {
  document.querySelector('.graphiql-sidebar button[aria-label="Show Stream"]')?.click();
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
  const visiblePlugin = useGraphiQL((st) => st.visiblePlugin);
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
      {visiblePlugin?.title !== 'Stream' && (
        <>
          {' · '}
          <button type="button" className="rewind-stream-open" onClick={openPanel}>
            list every event in the Stream panel
          </button>
        </>
      )}
    </div>
  );
}
