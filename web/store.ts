/**
 * What the browser keeps (localStorage): this device's id and token, the devices it sent to or
 * received from, and the transfers it sent (to show their status after a reload). A browser
 * that refuses storage (private modes) still works for the visit.
 */
import type { SealedFile } from "../src/contract/seal";

export interface Device {
  id: string;
  token: string;
  name: string;
  /** a name chosen here that the server has not taken yet (renaming needs the v1.1 settings endpoint) */
  pendingName?: string;
  /** registered on this visit (kept in memory only): the page proposes renaming it */
  fresh?: boolean;
}

export interface Contact {
  id: string;
  name: string;
  /** last exchange, ms */
  at: number;
}

export interface SentRecord {
  id: string;
  at: string;
  to: Array<{ id: string; name: string }>;
  files: Array<{ name: string; size: number; lastModified?: number }>;
  message: string | null;
  /** a sealed transfer (the names above are this side's: the server has 1.age …); its spool in the Origin Private File System, null when sealed in memory */
  sealed?: { spool: string | null };
}

/** A contact's key as this browser pinned it (issue 23; client/seal decideTrust). */
export interface KeyPin {
  key: string;
  verified: boolean;
  /** when it was pinned, ms */
  at: number;
}

/** A send made while the server could not be reached: what it was, so a closed page can say what was lost. */
export interface WaitingRecord {
  key: string;
  at: string;
  to: Array<{ id: string; name: string }>;
  files: Array<{ name: string; size: number }>;
  message: string | null;
  /** sealed while offline (web/seal/send-sealed.ts): waits with its spool, as SentRecord's, and what it takes to wait again after a reload */
  sealed?: SentRecord["sealed"] & { again?: SealedWait };
}

/** A sealed send waiting for the connection, as a reload finds it again in its spool: its create's Idempotency-Key, the keys sealed to, seal.age's file entries, the form's limits. */
export interface SealedWait {
  once: string;
  keys: string[];
  files: SealedFile[];
  expiresIn?: number;
  maxDownloads?: number;
}

const KEYS = {
  device: "pushdrop.device",
  contacts: "pushdrop.contacts",
  sent: "pushdrop.sent",
  hidden: "pushdrop.hidden",
  opened: "pushdrop.opened",
  waiting: "pushdrop.waiting",
  pins: "pushdrop.pins",
  refused: "pushdrop.refused",
} as const;
const memory = new Map<string, string>();

function read<T>(key: string, fallback: T): T {
  let text: string | null = null;
  try {
    text = localStorage.getItem(key);
  } catch {
    text = memory.get(key) ?? null;
  }
  if (text === null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function write(key: string, value: unknown): void {
  const text = JSON.stringify(value);
  try {
    localStorage.setItem(key, text);
  } catch {
    memory.set(key, text);
  }
}

function remove(key: string): void {
  try {
    localStorage.removeItem(key);
  } catch {
    // nothing kept
  }
  memory.delete(key);
}

export const loadDevice = () => read<Device | null>(KEYS.device, null);
export const saveDevice = (d: Device) => write(KEYS.device, d);

export const loadContacts = () => read<Contact[]>(KEYS.contacts, []).sort((a, b) => b.at - a.at);
export function rememberContact(c: { id: string; name: string }): Contact[] {
  const list = loadContacts().filter((x) => x.id !== c.id);
  list.unshift({ id: c.id, name: c.name, at: Date.now() });
  write(KEYS.contacts, list.slice(0, 30));
  return loadContacts();
}
/** The server's contacts (v1.1): names refreshed, new ones added after the ones used here. */
export function mergeContacts(server: Array<{ id: string; name: string }>): Contact[] {
  const list = loadContacts();
  const byId = new Map(list.map((c) => [c.id, c]));
  for (const c of server) {
    const mine = byId.get(c.id);
    if (mine) mine.name = c.name || mine.name;
    else list.push({ id: c.id, name: c.name, at: 0 });
  }
  write(KEYS.contacts, list.slice(0, 30));
  return loadContacts();
}

export function forgetContact(id: string): Contact[] {
  write(KEYS.contacts, loadContacts().filter((x) => x.id !== id));
  return loadContacts();
}

export const loadSent = () => read<SentRecord[]>(KEYS.sent, []);
export function recordSent(r: SentRecord): void {
  write(KEYS.sent, [r, ...loadSent().filter((x) => x.id !== r.id)].slice(0, 50));
}
export function dropSent(id: string): void {
  write(KEYS.sent, loadSent().filter((x) => x.id !== id));
}

/** Inbox entries this device chose to clear from its list. */
export const loadHidden = () => new Set(read<string[]>(KEYS.hidden, []));
export function hide(id: string): void {
  write(KEYS.hidden, [id, ...loadHidden()].slice(0, 500));
}

/** Inbox entries this device has shown (read), newest first. */
export const loadOpened = () => new Set(read<string[]>(KEYS.opened, []));
export function markOpened(id: string): void {
  write(KEYS.opened, [id, ...read<string[]>(KEYS.opened, []).filter((x) => x !== id)].slice(0, 500));
}

export const loadWaiting = () => read<WaitingRecord[]>(KEYS.waiting, []);
export function recordWaiting(r: WaitingRecord): void {
  write(KEYS.waiting, [r, ...loadWaiting().filter((x) => x.key !== r.key)].slice(0, 20));
}
export function dropWaiting(key: string): void {
  write(KEYS.waiting, loadWaiting().filter((x) => x.key !== key));
}

/** What is kept per contact, by terminal id (web/seal/trust.ts): pinned keys, and the key a share link or QR code carried that was refused (the server published another). */
interface PerContact {
  pins: KeyPin;
  refused: string;
}
export const loadFor = <K extends keyof PerContact>(k: K) => read<Record<string, PerContact[K]>>(KEYS[k], {});
export function saveFor<K extends keyof PerContact>(k: K, id: string, value: PerContact[K] | null): void {
  const all = loadFor(k);
  if (value) all[id] = value;
  else delete all[id];
  write(KEYS[k], all);
}

/** Forget everything this browser holds about its device. */
export function clearAll(): void {
  for (const k of Object.values(KEYS)) remove(k);
}
