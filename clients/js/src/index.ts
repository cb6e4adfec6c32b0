// @rewind/client: Rewind subscriptions that resume by themselves. See
// createRewindClient; the Apollo Client link is in '@rewind/client/apollo',
// the urql exchange in '@rewind/client/urql'.
export { createRewindClient } from './client.js';
export type { RewindClient, RewindClientOptions, RetryOptions, SubscribeRequest, Sink } from './client.js';
export { memoryCursorStore, localStorageCursorStore, indexedDBCursorStore } from './cursor.js';
export type { CursorStore, StorageLike } from './cursor.js';
export { RewindError, CursorError, RequestError, CloseError, HTTPError, fatalCloseCodes, retryableCodes } from './errors.js';
