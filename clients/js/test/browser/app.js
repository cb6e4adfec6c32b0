// What both test pages share: a Rewind client whose cursors live in
// localStorage, and an "app" that processes each event by appending its
// id to a list in localStorage, so the list survives reloads too. The Go
// test (TestBrowserClients) reads window.rewindState().
import { createRewindClient, localStorageCursorStore } from '../../dist/index.js';

const params = new URLSearchParams(location.search);
export const server = params.get('server');
export const topics = [params.get('topics')];
export const zero = '00000000000000000000000000';

const state = { errors: [], retries: 0, loads: Number(localStorage.getItem('loads') ?? 0) + 1 };
localStorage.setItem('loads', String(state.loads));

export const rewind = createRewindClient({
  url: server,
  cursorStore: localStorageCursorStore(),
  retry: { minDelayMs: 50, maxDelayMs: 1000 },
  onRetry: () => state.retries++,
});

/** processed is the app's work on one event. */
export function processed(event) {
  const list = JSON.parse(localStorage.getItem('received') ?? '[]');
  list.push(event.id);
  localStorage.setItem('received', JSON.stringify(list));
}

/** component is the work of one of a page's components: its own list of processed ids. */
export function component(name) {
  return (event) => {
    const list = JSON.parse(localStorage.getItem(`received:${name}`) ?? '[]');
    list.push(event.id);
    localStorage.setItem(`received:${name}`, JSON.stringify(list));
  };
}

/** lists are the components' lists of processed ids. */
function lists() {
  const out = {};
  for (let i = 0; i < localStorage.length; i++) {
    const k = localStorage.key(i);
    if (k.startsWith('received:')) out[k.slice('received:'.length)] = JSON.parse(localStorage.getItem(k));
  }
  return out;
}

export function failed(err) {
  state.errors.push(`${err?.name}: ${err?.message}`);
}

window.rewindState = () => ({ ...state, received: JSON.parse(localStorage.getItem('received') ?? '[]'), lists: lists() });

export const followText = `subscription Follow($topics: [String!]!, $afterId: ID) {
  events(topics: $topics, afterId: $afterId) { id topic data live }
}`;
