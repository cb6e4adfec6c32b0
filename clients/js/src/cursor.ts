// Where each subscription's cursor (the id of the last event the app
// processed) is kept between attempts, and between page loads with a
// persistent store.

/**
 * CursorStore keeps one cursor per subscription key. Every method may
 * return a promise; the client awaits it before it subscribes and after the
 * app has processed each event.
 */
export interface CursorStore {
  get(key: string): Promise<string | undefined> | string | undefined;
  set(key: string, id: string): Promise<void> | void;
  delete(key: string): Promise<void> | void;
}

/** memoryCursorStore keeps cursors for the life of the page or process (the default). */
export function memoryCursorStore(): CursorStore {
  const cursors = new Map<string, string>();
  return {
    get: (key) => cursors.get(key),
    set: (key, id) => void cursors.set(key, id),
    delete: (key) => void cursors.delete(key),
  };
}

/** StorageLike is the part of the Web Storage API the localStorage store uses. */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/**
 * localStorageCursorStore keeps cursors in localStorage under `prefix + key`
 * (prefix `rewind:cursor:` by default). Its writes are synchronous: a
 * cursor is stored before the next task runs, so a reload right after the
 * app processed an event does not deliver it again.
 */
export function localStorageCursorStore(options: { prefix?: string; storage?: StorageLike } = {}): CursorStore {
  const prefix = options.prefix ?? 'rewind:cursor:';
  const storage = options.storage ?? (globalThis as { localStorage?: StorageLike }).localStorage;
  if (!storage) throw new Error('localStorageCursorStore: no localStorage here (pass options.storage)');
  return {
    get: (key) => storage.getItem(prefix + key) ?? undefined,
    set: (key, id) => storage.setItem(prefix + key, id),
    delete: (key) => storage.removeItem(prefix + key),
  };
}

/**
 * indexedDBCursorStore keeps cursors in an IndexedDB object store (database
 * `rewind` and store `cursors` by default), for pages that cannot use
 * localStorage (workers, service workers). IndexedDB commits
 * asynchronously: a page closed between the app's processing of an event
 * and the commit gets that one event again when it resumes.
 */
export function indexedDBCursorStore(options: { database?: string; store?: string; indexedDB?: IDBFactory } = {}): CursorStore {
  const database = options.database ?? 'rewind';
  const storeName = options.store ?? 'cursors';
  const factory = options.indexedDB ?? globalThis.indexedDB;
  if (!factory) throw new Error('indexedDBCursorStore: no IndexedDB here (pass options.indexedDB)');
  let db: Promise<IDBDatabase> | undefined;
  const open = () =>
    (db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const req = factory.open(database, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(storeName);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(new Error(`open IndexedDB ${database}: ${req.error?.message}`));
    }));
  const run = async <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const tx = (await open()).transaction(storeName, mode);
    const req = op(tx.objectStore(storeName));
    return new Promise<T>((resolve, reject) => {
      tx.oncomplete = () => resolve(req.result);
      tx.onabort = tx.onerror = () => reject(new Error(`IndexedDB ${database}/${storeName}: ${tx.error?.message}`));
    });
  };
  return {
    get: async (key) => {
      const v = await run('readonly', (s) => s.get(key));
      return typeof v === 'string' ? v : undefined;
    },
    set: async (key, id) => void (await run('readwrite', (s) => s.put(id, key))),
    delete: async (key) => void (await run('readwrite', (s) => s.delete(key))),
  };
}
