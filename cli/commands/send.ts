import { openAsBlob, statSync } from "node:fs";
import path from "node:path";
import { ApiError, LiveChannel, uploadFiles, type PushdropClient, type PutFn } from "../../client";
import type { Transfer } from "../../src/contract";
import type { Identity } from "../config";
import { signedIn, type Ctx } from "../context";
import { CliError, EXIT, usageError } from "../exit";
import { collectFiles, type LocalFile } from "../files";
import { fileSummary, parseExpires, parsePositiveInt, parseRecipients, recipientLinkKeys, relative, showId } from "../format";
import { nodePut } from "../http";
import { ProgressView } from "../progress";
import { RetryNotes } from "../retrying";
import { findSendById, findSendByKey, forgetSend, rememberSend, sendKey, type PendingSend } from "../sends";
import { shown } from "../sanitize";
import { rememberSealed } from "../sent";
import { NodeWebSocket } from "../socket";
import { SEAL_NAME, sealedFileName, type SealDraft } from "../../client/seal";
import { checkLinkKeys, ensureKeys } from "../keys";
import { makeSpool, removeSpool, sealingKeys, specsOf, SpoolWriter, unsealedDraft } from "../sealing";

/**
 * `pushdrop send` and `pushdrop resume`. A send first looks for an unfinished transfer that
 * the same command started (same server, sender, recipients, message, options, and files
 * unchanged in size and modification time) and, if the server still has it uploading, sends
 * only the parts missing from its `partsReceived`; otherwise it creates a new transfer.
 */

export interface SendOptions {
  to: string[];
  message?: string;
  expires?: string;
  maxDownloads?: string;
  wait?: boolean;
  parallel?: string;
  /** send in the clear, even to recipients that have keys */
  plain?: boolean;
}

const FINISHED = new Set(["packaging", "ready", "delivered"]);

export async function send(ctx: Ctx, paths: string[], opts: SendOptions): Promise<void> {
  const to = parseRecipients(opts.to);
  const expiresIn = opts.expires !== undefined ? parseExpires(opts.expires) : undefined;
  const maxDownloads = opts.maxDownloads !== undefined ? parsePositiveInt("--max-downloads", opts.maxDownloads) : undefined;
  const concurrency = opts.parallel !== undefined ? Math.min(16, parsePositiveInt("--parallel", opts.parallel)) : 3;
  const message = opts.message;
  if (paths.length === 0 && (message ?? "").trim() === "") throw usageError("Nothing to send: name files or folders, or give --message.");
  const { files, skipped } = collectFiles(paths);
  for (const s of skipped) ctx.ui.warn(`skipped ${s}`);
  if (paths.length > 0 && files.length === 0 && (message ?? "").trim() === "") throw usageError("Nothing to send: the folders given hold no files.");
  const { client, me } = signedIn(ctx);
  // this terminal's own key: made and published if it has none yet, checked against the server's
  if (ctx.config.terminals[ctx.server]?.id === me.id || (ctx.env.PUSHDROP_IDENTITY ?? "").trim()) await ensureKeys(ctx, client, me);

  // sealed whenever every recipient has a key (issue 23); a key change stops the send
  if (!opts.plain) {
    // keys that share links given as --to carry: checked against the server's and the pins first
    await checkLinkKeys(ctx, client, recipientLinkKeys(opts.to));
    const r = await sealingKeys(ctx, client, to);
    if ("keys" in r) {
      return sendSealed(ctx, client, me, { to, files, message, expiresIn, maxDownloads, wait: opts.wait, concurrency }, r.keys);
    }
    // an id the server does not know (its lookup answered 404): refused here, as the server
    // would refuse the transfer, before any request carries the message or the file names
    if ("unknown" in r && r.unknown.length > 0) {
      throw new ApiError(404, "terminal_not_found", `No terminal ${r.unknown.map(showId).join(", ")} on this server (${r.unknown.join(", ")}): nothing was sent.`, { missing: r.unknown });
    }
    // sealed by default (issue 23): a recipient without a key is not a reason to send in the
    // clear behind the person's back; --plain is how they say they mean it
    if ("plainBecause" in r && r.plainBecause.length > 0) {
      const ids = r.plainBecause;
      const one = ids.length === 1;
      throw new CliError(
        [
          `Nothing was sent: ${ids.map(showId).join(", ")} ${one ? "has" : "have"} no key for sealed transfers (a curl-only terminal, or a browser or CLI from before them, perhaps), so ${one ? "it" : "they"} can only get it in the clear.`,
          `\`--plain\` sends it in the clear to every recipient (the server can read the files, their names and the message).`,
        ].join("\n"),
        EXIT.usage,
        "recipient_without_key",
        { keyless: ids },
      );
    }
  }

  // a message alone: no files, nothing to upload
  if (files.length === 0) {
    const t = await client.sendMessage(to, message!, { expiresIn, maxDownloads });
    ctx.ui.info(`Sent a message to ${to.map(showId).join(", ")}.`);
    return finish(ctx, client, me, t, { resumed: false, partsSent: 0, wait: opts.wait });
  }

  const key = sendKey({ server: ctx.server, from: me.id, to, message, expiresIn, maxDownloads, files });
  let transfer: Transfer | null = null;
  let resumed = false;
  const pending = findSendByKey(key, ctx.server, ctx.env);
  if (pending) {
    transfer = await stillOpen(ctx, client, pending);
    if (transfer && FINISHED.has(transfer.status)) {
      // every byte went up last time; only the bookkeeping was left
      forgetSend(transfer.id, ctx.env);
      ctx.ui.info(`Already sent: every byte of transfer ${transfer.id} is on the server.`);
      return finish(ctx, client, me, transfer, { resumed: true, partsSent: 0, wait: opts.wait });
    }
    resumed = transfer !== null;
  }
  if (!transfer) {
    transfer = await client.createTransfer({ to, files: files.map((f) => ({ name: f.name, size: f.size })), message, expiresIn, maxDownloads });
    rememberSend(
      { key, transferId: transfer.id, server: ctx.server, from: me.id, to, message, createdAt: transfer.createdAt, expiresAt: transfer.expiresAt, files },
      ctx.env,
    );
  } else {
    ctx.ui.info(`Resuming transfer ${transfer.id} (started ${startedAt(transfer.createdAt)}).`);
  }
  const partsSent = await upload(ctx, client, transfer, await Promise.all(files.map((f) => openAsBlob(f.path))), concurrency, undefined, { check: files });
  transfer = await client.transfer(transfer.id);
  return finish(ctx, client, me, transfer, { resumed, partsSent, wait: opts.wait });
}

interface SendPlan {
  to: string[];
  files: LocalFile[];
  message?: string;
  expiresIn?: number;
  maxDownloads?: number;
  wait?: boolean;
  concurrency: number;
}

/**
 * A sealed send: the transfer declared with the exact sealed sizes (1.age … n.age, seal.age; known
 * before any byte is sealed), then each file sealed once into a private spool while it is
 * hashed, and each part sent as soon as its bytes are in the spool (sealing and uploading at
 * once); seal.age last, once every file's SHA-256 is known. Run again (or `resume`), it finds
 * the spool and sends only the missing parts of the same bytes (a file cut while being sealed
 * is sealed again, under a new key, and all of its parts sent again).
 */
async function sendSealed(ctx: Ctx, client: PushdropClient, me: Identity, plan: SendPlan, keys: string[]): Promise<void> {
  const { to, files, message, expiresIn, maxDownloads } = plan;
  const key = sendKey({ server: ctx.server, from: me.id, to, message, expiresIn, maxDownloads, files, seal: keys });
  const pending = findSendByKey(key, ctx.server, ctx.env);
  if (pending?.sealed) {
    const transfer = await stillOpen(ctx, client, pending);
    if (transfer && FINISHED.has(transfer.status)) {
      forgetSend(transfer.id, ctx.env);
      ctx.ui.info(`Already sent: every byte of transfer ${transfer.id} is on the server.`);
      return finish(ctx, client, me, transfer, { resumed: true, partsSent: 0, wait: plan.wait, sealed: pending.sealed.draft });
    }
    if (transfer) {
      ctx.ui.info(`Resuming sealed transfer ${transfer.id} from its spool (started ${startedAt(transfer.createdAt)}).`);
      const { partsSent, draft } = await uploadSealed(ctx, client, transfer, pending, files, plan.concurrency);
      return finish(ctx, client, me, await client.transfer(transfer.id), { resumed: true, partsSent, wait: plan.wait, sealed: draft });
    }
  }
  const spool = makeSpool(ctx.env);
  let remembered = false;
  try {
    const draft = unsealedDraft(files, { from: me.id, to, message: message ?? null });
    const transfer = await client.createTransfer({ to, files: specsOf(draft, keys.length), sealed: true, expiresIn, maxDownloads });
    const record: PendingSend = {
      key,
      transferId: transfer.id,
      server: ctx.server,
      from: me.id,
      to,
      message,
      createdAt: transfer.createdAt,
      expiresAt: transfer.expiresAt,
      files: transfer.files.map((f, k) => ({ path: path.join(spool, k < files.length ? sealedFileName(k) : SEAL_NAME), name: f.name, size: f.size, mtimeMs: 0 })),
      sealed: { spool, draft, recipients: keys, sources: files },
    };
    rememberSend(record, ctx.env);
    remembered = true;
    if (files.length > 0) ctx.ui.info(`Sealing ${files.length} file${files.length === 1 ? "" : "s"} for ${to.map(showId).join(", ")} as ${files.length === 1 ? "it goes" : "they go"} up…`);
    const { partsSent, draft: sealed } = await uploadSealed(ctx, client, transfer, record, files, plan.concurrency);
    return finish(ctx, client, me, await client.transfer(transfer.id), { resumed: false, partsSent, wait: plan.wait, sealed });
  } finally {
    if (!remembered) removeSpool(spool, ctx.env);
  }
}

/** Seals into the spool what is not there yet while the parts go up from it; the record follows each file sealed. */
async function uploadSealed(ctx: Ctx, client: PushdropClient, transfer: Transfer, record: PendingSend, files: readonly LocalFile[], concurrency: number) {
  const state = record.sealed!;
  const sources = state.sources ?? files;
  const writer = new SpoolWriter(state, sources, transfer.id, transfer.files.map((f) => f.size), (s) => rememberSend({ ...record, sealed: s }, ctx.env));
  // a file sealed now (anew, when a run was cut while sealing it): none of its parts on the server are kept
  const anew = new Set(writer.unsealed);
  const target = { ...transfer, files: transfer.files.map((f) => (anew.has(f.index) ? { ...f, received: 0, partsReceived: [] } : f)) };
  const sealing = writer.run(state.recipients);
  sealing.catch(() => undefined); // (awaited below; the upload stops with it meanwhile)
  let partsSent: number;
  try {
    partsSent = await upload(ctx, client, target, writer.blobs(), concurrency, labelsOf(state.draft), { ready: (i, end) => writer.ready(i, end), check: sources });
  } catch (e) {
    writer.stop();
    await sealing.catch(() => undefined);
    throw e;
  }
  return { partsSent, draft: await sealing };
}

/** `pushdrop resume <id>`: the files of an unfinished send, from the local record of it. */
export async function resume(ctx: Ctx, transferId: string, opts: { wait?: boolean }): Promise<void> {
  const pending = findSendById(transferId, ctx.env);
  if (!pending) {
    throw usageError(`No unfinished send ${transferId} on this computer (pushdrop remembers the sends it started until their bytes are all in).`);
  }
  if (pending.server !== ctx.server) throw usageError(`Transfer ${transferId} was sent to ${pending.server}; add --server ${pending.server}.`);
  for (const f of pending.sealed?.sources ?? (pending.sealed ? [] : pending.files)) {
    const st = statSync(f.path);
    if (st.size !== f.size || st.mtimeMs !== f.mtimeMs) {
      throw usageError(`${f.path} has changed since transfer ${transferId} began; send it again as a new transfer (and \`pushdrop cancel ${transferId}\`).`);
    }
  }
  const { client, me } = signedIn(ctx);
  let transfer = await stillOpen(ctx, client, pending);
  if (!transfer) throw new CliError(`Transfer ${transferId} can no longer be resumed; send the files again.`, EXIT.api, "not_resumable");
  let partsSent = 0;
  let draft = pending.sealed?.draft;
  if (!FINISHED.has(transfer.status)) {
    // a sealed send resumes from its spool: the same age files, never sealed again
    if (pending.sealed) ({ partsSent, draft } = await uploadSealed(ctx, client, transfer, pending, pending.sealed.sources ?? [], 3));
    else partsSent = await upload(ctx, client, transfer, await Promise.all(pending.files.map((f) => openAsBlob(f.path))), 3, undefined, { check: pending.files });
    transfer = await client.transfer(transfer.id);
  }
  forgetSend(transfer.id, ctx.env);
  return finish(ctx, client, me, transfer, { resumed: true, partsSent, wait: opts.wait, sealed: draft });
}

/** The transfer a pending send names, if it can still take bytes (or already has them all); else forgets it. */
async function stillOpen(ctx: Ctx, client: PushdropClient, p: PendingSend): Promise<Transfer | null> {
  let t: Transfer;
  try {
    t = await client.transfer(p.transferId);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 403 || e.status === 410)) {
      forgetSend(p.transferId, ctx.env);
      return null;
    }
    throw e;
  }
  const same = t.files.length === p.files.length && t.files.every((f, i) => f.size === p.files[i]!.size);
  if (t.status === "uploading" && same) return t;
  if (FINISHED.has(t.status) && same) return t;
  ctx.ui.info(`Transfer ${t.id} from an earlier try is ${t.status}; starting a new one.`);
  forgetSend(p.transferId, ctx.env);
  return null;
}

/** "12 min ago, at 17:53" (local time; with the date when it was not today) */
export function startedAt(iso: string, now = Date.now()): string {
  const d = new Date(iso);
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const sameDay = d.toDateString() === new Date(now).toDateString();
  return `${relative(iso, now)}, at ${sameDay ? time : `${d.toLocaleDateString()} ${time}`}`;
}

/** Tries per part: the first and five retries after 1, 2, 4, 8 and 16 s (about half a minute). */
const TRIES = 6;

/**
 * How a progress view shows a sealed transfer's files: by their real names and plaintext sizes;
 * seal.age (the names and message, sealed) counts in the bars but gets no "sent …" line.
 */
const labelsOf = (draft: SealDraft): Label[] => [
  ...draft.files.map((f) => ({ name: f.name, shownSize: f.size })),
  { name: "seal.age", announce: false },
];
type Label = { name: string; shownSize?: number; announce?: boolean };

async function upload(
  ctx: Ctx,
  client: PushdropClient,
  transfer: Transfer,
  blobs: Blob[],
  concurrency = 3,
  labels?: Label[],
  more: { ready?: (index: number, end: number) => Promise<void>; check?: readonly LocalFile[] } = {},
): Promise<number> {
  const view = new ProgressView(
    ctx.ui,
    "sent",
    transfer.files.map((f, i) => ({ name: f.name, ...labels?.[i], size: f.size })),
    transfer.files.map((f) => f.received),
  );
  // what the last try got (an answer's status, or null: none came), for the retry line
  const notes = new RetryNotes(ctx.ui, TRIES);
  let lastStatus: number | null = null;
  const put: PutFn = async (url, body, headers, o) => {
    let res: Response;
    try {
      res = await nodePut(url, body, headers, o);
    } catch (e) {
      lastStatus = null;
      throw e;
    }
    if (res.status === 429 || res.status >= 500) lastStatus = res.status;
    else notes.through(); // it answered (even a refusal): reachable again
    return res;
  };
  try {
    const r = await uploadFiles(client, transfer, blobs, {
      put,
      tries: TRIES,
      backoffMs: (attempt) => {
        const ms = Math.min(30_000, 1000 * 2 ** (attempt - 1));
        notes.retrying(attempt, ms, lastStatus);
        return ms;
      },
      signal: ctx.signal,
      concurrency,
      ready: more.ready,
      onProgress: (p) => view.update(p.files, p.done),
    });
    view.update(transfer.files.map((f) => f.size), new Set(transfer.files.map((f) => f.index)));
    view.end(true);
    forgetSend(transfer.id, ctx.env);
    return r.partsSent;
  } catch (e) {
    view.end(false);
    for (const f of more.check ?? []) {
      const st = statSync(f.path, { throwIfNoEntry: false });
      if (!st || st.size !== f.size || st.mtimeMs !== f.mtimeMs) {
        throw usageError(`${f.path} changed while it was being sent; send it again (and \`pushdrop cancel ${transfer.id}\`).`);
      }
    }
    if (!(e instanceof ApiError) || e.retryable) {
      ctx.ui.warn(`Transfer ${transfer.id} is unfinished: run the same command again, or \`pushdrop resume ${transfer.id}\`, to send the rest.`);
    }
    throw e;
  }
}

async function finish(
  ctx: Ctx,
  client: PushdropClient,
  me: Identity,
  transfer: Transfer,
  r: { resumed: boolean; partsSent: number; wait?: boolean; sealed?: SealDraft },
): Promise<void> {
  const d = r.sealed;
  const summary = {
    id: transfer.id,
    status: transfer.status,
    to: transfer.to,
    sealed: transfer.sealed,
    // a sealed transfer's real names and message are this side's (the server has only 1.age …)
    message: d ? d.message : transfer.message,
    files: d
      ? d.files.map((f) => ({ index: f.index, name: f.name, size: f.size, sha256: f.sha256 }))
      : transfer.files.map((f) => ({ index: f.index, name: f.name, size: f.size, sha256: f.sha256 })),
    size: transfer.size,
    expiresAt: transfer.expiresAt,
    resumed: r.resumed,
    partsSent: r.partsSent,
  };
  if (d) {
    // the server cannot show these names and this message, nor can this computer open the seal:
    // kept here (0600) for `pushdrop status` (cli/sent.ts: removed by cancel, or after it expired)
    try {
      rememberSealed({ transferId: transfer.id, server: ctx.server, expiresAt: transfer.expiresAt, draft: d }, ctx.env);
    } catch (e) {
      ctx.ui.warn(`(could not keep the names of transfer ${transfer.id} for \`pushdrop status\`: ${e instanceof Error ? e.message : String(e)})`);
    }
    const what = d.files.length === 0 ? "a message" : `${d.files.length} file${d.files.length === 1 ? "" : "s"}${d.message ? " and a message" : ""}`;
    ctx.ui.info(`Sent ${what}, sealed (only ${transfer.to.length === 1 ? "the recipient" : "the recipients"} can open it), to ${transfer.to.map(showId).join(", ")}.`);
  } else if (transfer.files.length > 0) {
    ctx.ui.info(`Sent ${fileSummary(transfer)} to ${transfer.to.map(showId).join(", ")}.`);
  }
  if (!r.wait) {
    ctx.ui.emit(summary);
    ctx.ui.print(transfer.id);
    return;
  }
  ctx.ui.print(transfer.id);
  const w = await waitForDelivery(ctx, client, me, transfer);
  const result = { ...summary, status: w.status, delivered: w.delivered };
  if (w.status !== "delivered") {
    // with --json the error is the one document on stdout, and carries the result
    throw new CliError(`Transfer ${transfer.id} ended (${w.status}) before every recipient had it.`, EXIT.undelivered, "undelivered", result);
  }
  ctx.ui.emit(result);
  ctx.ui.info(`Delivered to every recipient.`);
}

/**
 * `--wait`: the sender's live channel carries a `transfer.downloaded` receipt per recipient
 * (acknowledged here), and `transfer.expired`/`cancelled`/`failed` if it ends first. The
 * transfer is also read now and every 15 s, so a receipt that came before the channel
 * opened (or is lost with a connection) is not waited for in vain.
 */
async function waitForDelivery(ctx: Ctx, client: PushdropClient, me: Identity, transfer: Transfer) {
  const delivered = new Map<string, string>();
  const pending = new Set(transfer.to);
  let status: string = transfer.status;
  const note = (t: Transfer) => {
    for (const r of t.recipients) {
      if (r.downloadedAt && pending.delete(r.id)) {
        delivered.set(r.id, r.downloadedAt);
        ctx.ui.info(`downloaded by ${showId(r.id)}`);
      }
    }
    status = t.status;
  };
  note(transfer);
  if (pending.size === 0 || status === "delivered") return { status: "delivered", delivered: list(delivered) };
  ctx.ui.info(`Waiting until ${[...pending].map(showId).join(", ")} ${pending.size === 1 ? "has" : "have"} downloaded it (Ctrl-C stops waiting; the transfer goes on)…`);
  return new Promise<{ status: string; delivered: Array<{ id: string; at: string }> }>((resolve, reject) => {
    let closed = false;
    const end = (e?: unknown) => {
      if (closed) return;
      closed = true;
      clearInterval(poll);
      ctx.signal.removeEventListener("abort", onAbort);
      channel.close();
      if (e) reject(e);
      else resolve({ status: pending.size === 0 ? "delivered" : status, delivered: list(delivered) });
    };
    const settled = () => pending.size === 0 || ["expired", "cancelled", "failed", "delivered"].includes(status);
    const channel = new LiveChannel(client, me.id, {
      WebSocket: NodeWebSocket,
      onMessage: (m) => {
        if (!("transferId" in m) || m.transferId !== transfer.id) return; // not ours to acknowledge
        if (m.type === "transfer.downloaded") {
          if (pending.delete(m.by)) {
            delivered.set(m.by, m.at);
            ctx.ui.info(`downloaded by ${showId(m.by)}`);
          }
        } else {
          status = m.type.slice("transfer.".length);
          if (m.type === "transfer.failed") ctx.ui.warn(`transfer failed: ${shown(m.reason)}`);
        }
        channel.ack(m.id);
        if (settled()) end();
      },
      onState: (s, d) => {
        if (s === "closed" && d?.error) end(d.error);
      },
    });
    const poll = setInterval(() => {
      client.transfer(transfer.id).then(
        (t) => {
          note(t);
          if (settled()) end();
        },
        () => undefined, // the channel and the next poll carry on
      );
    }, 15_000);
    const onAbort = () => end(ctx.signal.reason);
    ctx.signal.addEventListener("abort", onAbort);
    // a receipt may have come between reading the transfer and opening the channel
    client.transfer(transfer.id).then(
      (t) => {
        note(t);
        if (settled()) end();
      },
      () => undefined,
    );
  });
}

const list = (m: Map<string, string>) => [...m].map(([id, at]) => ({ id, at }));
