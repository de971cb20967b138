import path from "node:path";
import { ApiError, formatBytes, type PushdropClient } from "../../client";
import type { Transfer } from "../../src/contract";
import { signedIn, type Ctx } from "../context";
import { CliError, EXIT, isAbort, reportError, usageError } from "../exit";
import { checkTransferId, describeSealed, describeTransfer, fileName, fileSummary, messageLines, relative, sealedSummary, showId, who } from "../format";
import { shown } from "../sanitize";
import { receiveFile, receivePackage, sealedNeedsKeys } from "../receive";
import { ensureKeys, localKeys } from "../keys";
import { fetchSeal } from "../opening";
import type { SealDocument } from "../../client/seal";
import type { Identity } from "../config";
import { findSendById, forgetSend } from "../sends";
import { forgetSealed, sealedSent } from "../sent";
import { ackOnce } from "../socket";

/** `pushdrop inbox`, `get`, `status`, `cancel`. */

export async function inbox(ctx: Ctx): Promise<void> {
  const { client, me } = signedIn(ctx);
  const transfers = await client.inbox(me.id);
  // sealed ones: their seal.age alone (a few KiB, never a receipt) shows the real names and message
  // (a terminal without a key gets one here, so that others can seal to it from now on)
  const identities = (await ensureKeys(ctx, client, me)).keys?.all ?? [];
  const seals = new Map<string, { doc: SealDocument | null; why?: string }>();
  for (const t of transfers) {
    if (!t.sealed) continue;
    if (identities.length === 0) {
      seals.set(t.id, { doc: null, why: "no key for this terminal here" });
      continue;
    }
    try {
      seals.set(t.id, { doc: await fetchSeal(client, t, identities, ctx.signal) });
    } catch (e) {
      if (isAbort(e)) throw e;
      seals.set(t.id, { doc: null, why: reportError(e).message });
    }
  }
  ctx.ui.emit({
    transfers: transfers.map((t) => {
      if (!t.sealed) return t;
      const s = seals.get(t.id)!;
      return { ...t, seal: s.doc ? { message: s.doc.message, files: s.doc.files } : null, ...(s.why ? { sealError: s.why } : {}) };
    }),
  });
  if (ctx.ui.json) return;
  if (transfers.length === 0) {
    ctx.ui.print("Nothing waiting.");
    return;
  }
  for (const t of transfers) {
    const mine = t.recipients.find((r) => r.id === me.id);
    const state = mine?.downloadedAt ? "downloaded" : "new";
    if (t.sealed) {
      const s = seals.get(t.id)!;
      ctx.ui.print(`${t.id}  ${state.padEnd(10)}  ${relative(t.createdAt)}  from ${who(t.from)}  ${sealedSummary(s.doc, t)}`);
      if (!s.doc) {
        ctx.ui.print(`  (cannot be opened on this computer: ${shown(s.why ?? "")})`);
        continue;
      }
      if (s.doc.message) ctx.ui.print(`  │ ${firstLine(s.doc.message)}`);
      for (const f of s.doc.files.slice(0, INBOX_FILES)) ctx.ui.print(`  ${fileName(f.name)}  ${formatBytes(f.size)}`);
      if (s.doc.files.length > INBOX_FILES) ctx.ui.print(`  … and ${s.doc.files.length - INBOX_FILES} more`);
      continue;
    }
    ctx.ui.print(`${t.id}  ${state.padEnd(10)}  ${relative(t.createdAt)}  from ${who(t.from)}  ${fileSummary(t)}`);
    if (t.message) ctx.ui.print(`  │ ${firstLine(t.message)}`);
    for (const f of t.files.slice(0, INBOX_FILES)) ctx.ui.print(`  ${fileName(f.name)}  ${formatBytes(f.size)}`);
    if (t.files.length > INBOX_FILES) ctx.ui.print(`  … and ${t.files.length - INBOX_FILES} more`);
  }
}

/** Files listed per transfer by `inbox` (the rest are counted); `status` lists them all. */
const INBOX_FILES = 3;

export async function get(ctx: Ctx, id: string, opts: { file?: string; dir?: string }): Promise<void> {
  const transferId = checkTransferId(id);
  const { client, me } = signedIn(ctx);
  const t = await client.transfer(transferId);
  const dir = path.resolve(opts.dir ?? ".");
  if (t.sealed) return getSealed(ctx, client, me, t, dir, opts);
  if (t.files.length === 0 && opts.file !== undefined) {
    throw new CliError(`Transfer ${t.id} is a message without files: it has no file ${opts.file}. \`pushdrop get ${t.id}\` shows the message.`, EXIT.api, "file_not_found");
  }
  if (t.files.length === 0) {
    // a message: reading it is receiving it (the ack tells the sender)
    await ackOnce(client, me.id, [`${t.id}.ready`]);
    ctx.ui.emit({ id: t.id, from: t.from, message: t.message, files: [] });
    ctx.ui.info(`Message from ${who(t.from)}:`);
    ctx.ui.print(shown(t.message ?? "", { multiline: true }));
    return;
  }
  if (opts.file !== undefined) {
    const index = fileIndex(t, t.files, opts.file);
    const r = await receiveFile(client, ctx.ui, t, index, dir, ctx.signal);
    return report(ctx, t, r.saved, r.resumedFrom);
  }
  const r = await receivePackage(client, ctx.ui, t, dir, ctx.signal);
  // dealt with: a later `listen` need not offer it again
  if (t.to.includes(me.id)) await ackOnce(client, me.id, [`${t.id}.ready`]);
  return report(ctx, t, r.saved, r.resumedFrom);
}

/**
 * `get` of a sealed transfer: opened with this terminal's keys. A sealed text (seal.age alone)
 * is read from seal.age and acknowledged like any text; `--file` fetches seal.age, then that
 * file's age file alone; otherwise the package, opened and checked as it streams in (cli/onepass.ts).
 */
async function getSealed(ctx: Ctx, client: PushdropClient, me: Identity, t: Transfer, dir: string, opts: { file?: string }): Promise<void> {
  if (t.from.id === me.id && !t.to.includes(me.id)) {
    // sealed to its recipients' keys only: the sender's own keys cannot open it (said before any download, not as age's "no identity matched")
    throw new CliError(
      `Transfer ${t.id} is one you sent sealed: only its recipients can open it, not this terminal. \`pushdrop status ${t.id}\` shows its names and message from what this computer kept of it.`,
      EXIT.integrity,
      "cannot_open",
    );
  }
  const keys = sealedNeedsKeys(t, (await ensureKeys(ctx, client, me)).keys?.all);
  const lone = t.files.length === 1;
  if (lone || opts.file !== undefined) {
    const doc = await fetchSeal(client, t, keys, ctx.signal);
    if (doc.files.length === 0) {
      if (opts.file !== undefined) throw new CliError(`Transfer ${t.id} is a sealed message without files: it has no file ${opts.file}.`, EXIT.api, "file_not_found");
      await ackOnce(client, me.id, [`${t.id}.ready`]);
      ctx.ui.emit({ id: t.id, from: t.from, sealed: true, message: doc.message, files: [] });
      ctx.ui.info(`Sealed message from ${who(t.from)}:`);
      ctx.ui.print(shown(doc.message ?? "", { multiline: true }));
      return;
    }
    if (opts.file !== undefined) {
      const k = fileIndex(t, doc.files, opts.file);
      const r = await receiveFile(client, ctx.ui, t, k, dir, ctx.signal, { seal: doc, identities: keys });
      return report(ctx, t, r.saved, r.resumedFrom, doc.message);
    }
  }
  const r = await receivePackage(client, ctx.ui, t, dir, ctx.signal, keys);
  if (t.to.includes(me.id)) await ackOnce(client, me.id, [`${t.id}.ready`]);
  return report(ctx, t, r.saved, r.resumedFrom, r.seal?.message ?? null);
}

function report(
  ctx: Ctx,
  t: Transfer,
  saved: Array<{ name: string; path: string; size: number; sha256: string; alreadyThere: boolean }>,
  resumedFrom: number,
  message: string | null = t.message,
) {
  ctx.ui.emit({ id: t.id, from: t.from, sealed: t.sealed, message, resumedFrom, files: saved });
  if (message) ctx.ui.info([`${t.sealed ? "Sealed message" : "Message"} from ${who(t.from)}:`, ...messageLines(message).map((l) => `  │ ${l}`)].join("\n"));
  for (const f of saved) {
    // (a path made of names from the package: safe for the file system, not yet for a terminal)
    if (f.alreadyThere) ctx.ui.info(`already there with the same bytes: ${shown(f.path)}`);
    ctx.ui.print(shown(f.path));
  }
}

/** `--file 2` (an index) or `--file notes.txt` (a name among `files`: the transfer's, or a sealed one's real names). */
function fileIndex(t: Transfer, files: ReadonlyArray<{ index: number; name: string }>, sel: string): number {
  if (/^\d+$/.test(sel)) return Number(sel);
  const hit = files.find((f) => f.name === sel) ?? files.find((f) => path.posix.basename(f.name) === sel);
  // (the names are the sender's: each through the one gate, on one line, so none can start a line of its own)
  if (!hit) throw usageError(`Transfer ${t.id} has no file named ${JSON.stringify(sel)}; its files: ${files.map((f) => `${f.index} ${fileName(f.name)}`).join(", ")}.`);
  return hit.index;
}

export async function status(ctx: Ctx, id: string): Promise<void> {
  const transferId = checkTransferId(id);
  const { client, me } = signedIn(ctx);
  const t = await client.transfer(transferId);
  const sealed = t.sealed ? await sealedContents(ctx, client, me, t) : null;
  ctx.ui.emit(sealed ? { ...t, seal: sealed.seal ? { message: sealed.seal.message, files: sealed.seal.files } : null } : t);
  if (ctx.ui.json) return;
  const [head, ...rest] = !sealed
    ? describeTransfer(t, { maxFiles: Infinity })
    : sealed.seal || !sealed.ownWords
      ? describeSealed(t, sealed.seal, { maxFiles: Infinity, why: sealed.why })
      : [describeSealed(t, null)[0]!, `  (${sealed.why})`];
  ctx.ui.print(head);
  if (t.status === "uploading") {
    // a sealed transfer's files by their real names where this computer knows them (1.age … otherwise)
    const label = (k: number, name: string) =>
      !sealed ? name : k >= t.files.length - 1 ? "(the names and message, sealed)" : (sealed.seal?.files[k]?.name ?? `file ${k + 1} (sealed)`);
    for (const f of t.files) ctx.ui.print(`  ${fileName(label(f.index, f.name))}: ${formatBytes(f.received)} of ${formatBytes(f.size)} uploaded (parts ${f.partsReceived.length}/${f.parts})`);
  } else {
    for (const line of rest) ctx.ui.print(line);
  }
  for (const r of t.recipients) {
    const state = r.downloadedAt ? `downloaded ${relative(r.downloadedAt)}` : r.notifiedAt ? `notified ${relative(r.notifiedAt)}${r.channel ? ` (${r.channel})` : ""}` : "not notified yet";
    ctx.ui.print(`  to ${showId(r.id)}: ${state}`);
  }
  const limit = t.maxDownloads !== null ? ` of at most ${t.maxDownloads}` : "";
  ctx.ui.print(`  created ${relative(t.createdAt)}, ${lifetime(t)}; ${t.downloads} download${t.downloads === 1 ? "" : "s"}${limit}`);
  if (t.failure) ctx.ui.print(`  failed: ${shown(t.failure)}`);
}

/**
 * What `status` can say of a sealed transfer's real contents: the sender's own record of what it
 * sealed (an unfinished send's, or the one kept once it was sent), or, for a recipient, its
 * seal.age opened (fetched alone: it never counts toward receipts). Otherwise null, and why.
 */
async function sealedContents(ctx: Ctx, client: PushdropClient, me: Identity, t: Transfer): Promise<{ seal: SealView | null; why?: string; ownWords?: boolean }> {
  if (t.from.id === me.id) {
    const draft = findSendById(t.id, ctx.env)?.sealed?.draft ?? sealedSent(t.id, ctx.server, ctx.env);
    if (draft) return { seal: draft };
  }
  if (t.to.includes(me.id)) {
    if (!["ready", "delivered"].includes(t.status)) return { seal: null, ownWords: true, why: `sealed: its names and message can be read here once it is ready (it is ${t.status})` };
    const keys = (await localKeys(ctx, me))?.all ?? [];
    if (keys.length === 0) return { seal: null, why: "no key for this terminal here" };
    try {
      return { seal: await fetchSeal(client, t, keys, ctx.signal) };
    } catch (e) {
      if (isAbort(e)) throw e;
      return { seal: null, why: reportError(e).message };
    }
  }
  return { seal: null, ownWords: true, why: "its names and message are sealed: only the recipients can read them, and this computer kept no record of them" };
}
type SealView = Pick<SealDocument, "message" | "files">;

export async function cancel(ctx: Ctx, id: string): Promise<void> {
  const transferId = checkTransferId(id);
  const { client } = signedIn(ctx);
  await client.cancel(transferId);
  forgetSend(transferId, ctx.env);
  forgetSealed(transferId, ctx.env);
  const t = await client.transfer(transferId).catch(() => null);
  ctx.ui.emit({ id: transferId, status: t?.status ?? "cancelled" });
  ctx.ui.print(t?.status === "expired" ? `Transfer ${transferId} had already expired; its files are gone.` : `Cancelled ${transferId}.`);
}

/** When it ends: a cancelled or failed transfer has ended already, whatever its expiresAt said. */
export function lifetime(t: Pick<Transfer, "status" | "expiresAt">, now = Date.now()): string {
  if (t.status === "cancelled") return "cancelled (its files are gone)";
  if (t.status === "failed") return "failed (its files are gone)";
  if (t.status === "expired" || Date.parse(t.expiresAt) <= now) return `expired ${relative(t.expiresAt, now)}`;
  return `expires ${relative(t.expiresAt, now)}`;
}

/** A message's first line, cut to 100 characters, safe to print. */
const firstLine = (s: string) => {
  const l = messageLines(s)[0]!;
  return [...l].length > 100 ? `${[...l].slice(0, 99).join("")}…` : l + (s.includes("\n") ? " …" : "");
};

/** A fresh read of a transfer, or null when it is gone (expired, cancelled, unknown). */
export async function current(client: PushdropClient, id: string): Promise<Transfer | null> {
  try {
    return await client.transfer(id);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 410)) return null;
    throw e;
  }
}
