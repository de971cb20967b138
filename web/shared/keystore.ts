import { idbRun, type IdbStore } from "./idb";

/**
 * This device's age identities (issue 23, "Keys"), where both the page and the service worker
 * can use them: IndexedDB (a service worker has no localStorage). A WebCrypto X25519 private key
 * is stored as the non-extractable `CryptoKey` itself (structured clone keeps it unreadable to
 * script); only where the browser has no X25519 is the `AGE-SECRET-KEY-1…` string stored
 * (`nonExtractable: false`, which This device says).
 *
 * Database "pushdrop-keys", store "identities", keyed by the recipient (`age1…`). The current key
 * is the newest without `retiredAt`; older ones are kept until everything sealed to them has
 * expired (`retiredAt` + the longest time a transfer lives), so what was sealed before a *New key*
 * still opens. This module imports nothing of age: it only keeps what client/seal made.
 */
const STORE: IdbStore = { db: "pushdrop-keys", store: "identities", keyPath: "recipient" };
const run = <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest | void) => idbRun<T>(STORE, mode, op);

export interface StoredIdentity {
  /** the public half, `age1…` (the record's key) */
  recipient: string;
  /** a non-extractable X25519 `CryptoKey`, or the identity string where WebCrypto has no X25519 */
  identity: CryptoKey | string;
  nonExtractable: boolean;
  /** the terminal it belongs to (a new id on this browser starts with a new key) */
  terminalId: string;
  createdAt: number;
  /** when a newer key replaced it (absent for the current key) */
  retiredAt?: number;
}

/** Seven days (the longest `expiresIn`) plus a day: how long a retired identity is kept. */
export const RETIRED_KEEP_MS = 8 * 24 * 60 * 60 * 1000;

/**
 * Every identity kept for `terminalId`, the current one first, then retired ones newest first.
 * Rejects when IndexedDB is unavailable (some private modes): callers say the device cannot
 * open sealed transfers.
 */
export async function loadIdentities(terminalId: string): Promise<StoredIdentity[]> {
  const all = ((await run<StoredIdentity[]>("readonly", (s) => s.getAll())) ?? []).filter((k) => k.terminalId === terminalId);
  return all.sort((a, b) => Number(a.retiredAt !== undefined) - Number(b.retiredAt !== undefined) || b.createdAt - a.createdAt);
}

/** The identities of `terminalId` as age takes them (current first), to open what was sealed to it. */
export async function identitiesOf(terminalId: string): Promise<Array<CryptoKey | string>> {
  return (await loadIdentities(terminalId)).map((k) => k.identity);
}

/** The identity this device seals to itself with and publishes, or null when it has none yet. */
export async function currentIdentity(terminalId: string): Promise<StoredIdentity | null> {
  const [first] = await loadIdentities(terminalId);
  return first && first.retiredAt === undefined ? first : null;
}

/**
 * Stores `next` as the current identity of its terminal: the one it replaces is retired (kept
 * for `RETIRED_KEEP_MS`), and retired ones past that are deleted, in one transaction.
 */
export async function saveIdentity(next: StoredIdentity, now = Date.now()): Promise<void> {
  const existing = await loadIdentities(next.terminalId);
  await run("readwrite", (s) => {
    for (const k of existing) {
      if (k.recipient === next.recipient) continue;
      if (k.retiredAt === undefined) s.put({ ...k, retiredAt: now });
      else if (now - k.retiredAt > RETIRED_KEEP_MS) s.delete(k.recipient);
    }
    const { retiredAt: _drop, ...current } = next;
    s.put(current);
  });
}

/** Forgets every identity of this browser (the device's id was given up: nothing it had opens). */
export async function clearIdentities(): Promise<void> {
  await run("readwrite", (s) => s.clear());
}

/**
 * Every identity this browser keeps, whatever its terminal: the service worker opens a push's
 * seal with them (a pushed summary does not name the recipients).
 */
export async function allIdentities(): Promise<StoredIdentity[]> {
  return (await run<StoredIdentity[]>("readonly", (s) => s.getAll())) ?? [];
}
