// A page whose cursor lives in IndexedDB: it follows with the bare client
// (no Apollo, no urql) and reports the stored cursor, so the Go test can
// reload it once the cursor is committed.
import { createRewindClient, indexedDBCursorStore } from '../../dist/index.js';
import { server, topics, zero, processed, failed, followText } from './app.js';

const rewind = createRewindClient({ url: server, cursorStore: indexedDBCursorStore({ database: 'rewind-test' }) });
const request = { query: followText, variables: { topics, afterId: zero } };
rewind.subscribe(request, { next: ({ data }) => processed(data.events), error: failed, complete() {} });
window.storedCursor = () => rewind.cursor(rewind.cursorKey(request));
document.title = 'idb ready';
