/**
 * The chosen language where the service worker can read it: IndexedDB (a service worker has no
 * localStorage). Database "pushdrop-i18n", store "prefs", key "lang": the tag the page is shown
 * in (written by the page on every visit, so notifications speak the page's language), and
 * "override": the picker's choice, or absent. Uses only what both a page and a worker have.
 */
const DB = "pushdrop-i18n";
const STORE = "prefs";

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function run<T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest): Promise<T | undefined> {
  return open().then(
    (db) =>
      new Promise<T | undefined>((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const req = op(tx.objectStore(STORE));
        tx.oncomplete = () => {
          db.close();
          resolve(req.result as T | undefined);
        };
        tx.onerror = tx.onabort = () => {
          db.close();
          reject(tx.error);
        };
      }),
  );
}

export type PrefKey = "lang" | "override";

/** A stored tag, or null (also when IndexedDB is unavailable, e.g. some private modes). */
export async function readPref(key: PrefKey): Promise<string | null> {
  try {
    const v = await run<unknown>("readonly", (s) => s.get(key));
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
}

/** Stores a tag (null removes it); false when the browser refused. */
export async function writePref(key: PrefKey, tag: string | null): Promise<boolean> {
  try {
    await run("readwrite", (s) => (tag === null ? s.delete(key) : s.put(tag, key)));
    return true;
  } catch {
    return false;
  }
}
