import { idbRun, type IdbStore } from "../shared/idb";

/**
 * The chosen language where the service worker can read it: IndexedDB (a service worker has no
 * localStorage). Database "pushdrop-i18n", store "prefs", key "lang": the tag the page is shown
 * in (written by the page on every visit, so notifications speak the page's language), and
 * "override": the picker's choice, or absent. Uses only what both a page and a worker have.
 */
const STORE: IdbStore = { db: "pushdrop-i18n", store: "prefs" };
const run = <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest) => idbRun<T>(STORE, mode, op);

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
