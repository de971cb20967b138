import { formatBytes, formatTerminalId, normalizeTerminalId } from "../client";
import type { Transfer } from "../src/contract";
import type { SealDocument } from "../src/contract/seal";
import { TRANSFER_ID_RE } from "../src/contract/ids";
import { MAX_EXPIRES_IN, MIN_EXPIRES_IN } from "../src/contract/limits";
import { usageError } from "./exit";
import { parseShareLink } from "../client/seal";
import { shown } from "./sanitize";

/** Reading what people type, and writing what they read. */

/**
 * "123 456 789,987-654-321" (or several --to) → canonical ids; a malformed one is a usage error.
 * A share link (`https://…/?to=<id>#k=age1…`, as `pushdrop whoami` prints) stands for its id.
 */
export function parseRecipients(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values.flatMap((s) => s.split(","))) {
    if (v.trim() === "") continue;
    const id = recipientOf(v);
    if (!out.includes(id)) out.push(id);
  }
  if (out.length === 0) throw usageError("Say who gets it: --to <terminal id>[,<terminal id>…]");
  return out;
}

/** The keys the share links among the --to values carry (issue 23: the whole recipient is in the link's fragment), by id. */
export function recipientLinkKeys(values: readonly string[]): Map<string, string> {
  const keys = new Map<string, string>();
  for (const v of values.flatMap((s) => s.split(","))) {
    if (!isLink(v)) continue;
    const link = parseShareLink(v.trim());
    if (!link?.key) continue;
    const id = recipientOf(v);
    if (keys.has(id) && keys.get(id) !== link.key) throw usageError(`Two share links for ${formatTerminalId(id)} carry different keys.`);
    keys.set(id, link.key);
  }
  return keys;
}

const isLink = (v: string) => /^\s*https?:\/\//i.test(v);

function recipientOf(v: string): string {
  if (isLink(v)) {
    const link = parseShareLink(v.trim());
    const id = link ? normalizeTerminalId(link.to) : null;
    if (!id) throw usageError(`"${shown(v.trim())}" is not a pushdrop share link (<server>/?to=<terminal id>#k=age1…).`);
    return id;
  }
  const id = normalizeTerminalId(v);
  if (!id) throw usageError(`"${v.trim()}" is not a terminal id: 9 digits, the last a check digit (so a typo is caught).`);
  return id;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** "90s", "30m", "2h", "1d", "1h30m", or plain seconds → seconds, within what the server allows. */
export function parseExpires(input: string): number {
  const s = input.trim().toLowerCase();
  let total = 0;
  if (/^\d+$/.test(s)) total = Number(s);
  else {
    const re = /(\d+(?:\.\d+)?)\s*([smhdw])/g;
    let used = 0;
    for (let m; (m = re.exec(s)); ) {
      total += Number(m[1]) * UNITS[m[2]!]!;
      used += m[0].length;
    }
    if (used === 0 || used !== s.replace(/\s+/g, "").length) throw usageError(`--expires "${input}" is not a duration (e.g. 90m, 2h, 1d, 7d).`);
  }
  total = Math.round(total);
  if (total < MIN_EXPIRES_IN || total > MAX_EXPIRES_IN) throw usageError(`--expires must be between 1 minute and 7 days; "${input}" is ${total} s.`);
  return total;
}

export function parsePositiveInt(flag: string, input: string): number {
  if (!/^\d+$/.test(input.trim()) || Number(input) < 1) throw usageError(`${flag} must be a whole number of at least 1; got "${input}".`);
  return Number(input);
}

export function checkTransferId(input: string): string {
  const id = input.trim();
  if (!TRANSFER_ID_RE.test(id)) throw usageError(`"${input}" is not a transfer id (22 letters, digits, - and _).`);
  return id;
}

export const showId = (id: string) => (/^\d{9}$/.test(id) ? formatTerminalId(id) : id);

/** A sender as people read it; the name (chosen by its owner) through the one gate, on one line. */
export function who(from: { id: string; name: string }): string {
  return from.name ? `${shown(from.name)} (${showId(from.id)})` : showId(from.id);
}

/** A file name from a transfer (the sender chose it), made safe to print on one line. */
export const fileName = (name: string) => shown(name);

/** A message's lines (the sender wrote them), each made safe to print; tabs kept. */
export const messageLines = (message: string) => shown(message, { multiline: true }).split("\n");

export function fileSummary(t: Pick<Transfer, "files" | "size">): string {
  if (t.files.length === 0) return "a message";
  const size = t.size ?? t.files.reduce((s, f) => s + f.size, 0);
  return `${t.files.length} file${t.files.length === 1 ? "" : "s"}, ${formatBytes(size)}`;
}

/** A few lines about a transfer: who, what, the message, the files. */
export function describeTransfer(t: Transfer, opts: { maxFiles?: number } = {}): string[] {
  const lines = [`${t.id}  from ${who(t.from)}  ${fileSummary(t)}  [${t.status}]`];
  if (t.message) lines.push(...messageLines(t.message).map((l) => `  │ ${l}`));
  const max = opts.maxFiles ?? 20;
  for (const f of t.files.slice(0, max)) lines.push(`  ${fileName(f.name)}  ${formatBytes(f.size)}`);
  if (t.files.length > max) lines.push(`  … and ${t.files.length - max} more`);
  return lines;
}

/** The lock shown on sealed transfers: only the recipients can read them (it says nothing about who wrote them). */
export const LOCK = "🔒";

/** What a sealed transfer's real contents sum to ("2 files, 3.1 MB", "a message"). */
export function sealedSummary(doc: Pick<SealDocument, "files"> | null, t: Pick<Transfer, "files" | "size">): string {
  // (unopened: seal.age alone is a sealed message; else the files besides it)
  if (!doc) return t.files.length === 1 ? `${LOCK} a sealed message` : `${LOCK} sealed, ${t.files.length - 1} file${t.files.length === 2 ? "" : "s"} (${formatBytes(t.size)} sealed)`;
  if (doc.files.length === 0) return `${LOCK} a sealed message`;
  const size = doc.files.reduce((n, f) => n + f.size, 0);
  return `${LOCK} ${doc.files.length} sealed file${doc.files.length === 1 ? "" : "s"}, ${formatBytes(size)}`;
}

/**
 * A sealed transfer as `describeTransfer` shows a plain one, from its opened seal (the real
 * names and message), or, when it could not be opened here, saying so.
 */
export function describeSealed(t: Transfer, doc: Pick<SealDocument, "message" | "files"> | null, opts: { maxFiles?: number; why?: string } = {}): string[] {
  const lines = [`${t.id}  from ${who(t.from)}  ${sealedSummary(doc, t)}  [${t.status}]`];
  if (!doc) {
    lines.push(`  (cannot be opened on this computer${opts.why ? `: ${shown(opts.why)}` : ""})`);
    return lines;
  }
  if (doc.message) lines.push(...messageLines(doc.message).map((l) => `  │ ${l}`));
  const max = opts.maxFiles ?? 20;
  for (const f of doc.files.slice(0, max)) lines.push(`  ${fileName(f.name)}  ${formatBytes(f.size)}`);
  if (doc.files.length > max) lines.push(`  … and ${doc.files.length - max} more`);
  return lines;
}

/** "in 3 h", "2 min ago" */
export function relative(iso: string, now = Date.now()): string {
  const d = Date.parse(iso) - now;
  const a = Math.abs(d) / 1000;
  const s = a < 90 ? `${Math.round(a)} s` : a < 5400 ? `${Math.round(a / 60)} min` : a < 129600 ? `${Math.round(a / 3600)} h` : `${Math.round(a / 86400)} d`;
  return d >= 0 ? `in ${s}` : `${s} ago`;
}
