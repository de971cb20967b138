/**
 * One IndexedDB object store, opened for a single transaction and closed after it: what both the
 * page and the service worker have (a service worker has no localStorage). web/shared/keystore.ts
 * (this device's keys) and web/i18n/prefs.ts (the chosen language) keep their data this way.
 */
export interface IdbStore {
  /** database name */
  db: string;
  /** its one object store, made on first open */
  store: string;
  /** the store's key path (absent: keys are given with each put) */
  keyPath?: string;
}

function open(s: IdbStore): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(s.db, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(s.store, s.keyPath ? { keyPath: s.keyPath } : undefined);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

/**
 * Runs `op` in one transaction on the store; resolves with the result of the request `op`
 * returns (undefined when it returns none) once the transaction completes. Rejects when
 * IndexedDB is unavailable (some private modes) or the transaction fails.
 */
export async function idbRun<T>(s: IdbStore, mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest | void): Promise<T | undefined> {
  const db = await open(s);
  return new Promise<T | undefined>((resolve, reject) => {
    const tx = db.transaction(s.store, mode);
    const req = op(tx.objectStore(s.store));
    tx.oncomplete = () => {
      db.close();
      resolve(req ? (req.result as T | undefined) : undefined);
    };
    tx.onerror = tx.onabort = () => {
      db.close();
      reject(tx.error);
    };
  });
}
