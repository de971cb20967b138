import path from "node:path";
import { ApiError, describeError, formatTerminalId, LiveChannel, NetworkError } from "../../client";
import type { ServerMessage, Transfer } from "../../src/contract";
import { signedIn, type Ctx } from "../context";
import { loadConfig } from "../config";
import { CliError, EXIT, reportError } from "../exit";
import { describeSealed, describeTransfer, showId } from "../format";
import { ensureKeys, pinOf } from "../keys";
import { fetchSeal } from "../opening";
import type { SealDocument } from "../../client/seal";
import { shown } from "../sanitize";
import { receivePackage } from "../receive";
import { NodeWebSocket } from "../socket";
import { current } from "./transfers";

/**
 * `pushdrop listen`: keeps the terminal's live channel open (client/socket.ts: ping every
 * 30 s, reconnect with backoff, replays deduplicated) and deals with each message in turn.
 * A message is acknowledged once it has been dealt with: a transfer saved (--auto, or "yes"
 * on a terminal), a text message printed, a receipt or an end shown. A transfer only printed
 * (no --auto, no terminal to ask) stays unacknowledged: the inbox and the next listen still
 * have it. With --json, one JSON object per line and event.
 */

export interface ListenOptions {
  dir?: string;
  auto?: boolean;
  once?: boolean;
}

/** A download that failed for a passing reason is tried again this much later, this often. */
const RETRY_MS = 30_000;
const RETRIES = 5;

export async function listen(ctx: Ctx, opts: ListenOptions): Promise<void> {
  const { client, me } = signedIn(ctx);
  const dir = path.resolve(opts.dir ?? ".");
  const ui = ctx.ui;
  // this terminal's keys, to open sealed transfers (made and published here if it has none yet)
  const mine = (await ensureKeys(ctx, client, me)).keys;
  const identities = mine?.all ?? [];
  const ownKey = mine?.recipient ?? null;
  const queue: Array<{ msg: ServerMessage; tries: number }> = [];
  let busy = false;
  let opened = false;

  return new Promise<void>((resolve, reject) => {
    let finished = false;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const stop = (e?: unknown) => {
      if (finished) return;
      finished = true;
      releaseKeys();
      for (const t of timers) clearTimeout(t);
      ctx.signal.removeEventListener("abort", onAbort);
      channel.close();
      if (e) reject(e);
      else resolve();
    };
    // Ctrl-C is how listening ends: exit 0 (a download cut short resumes next time); on a
    // terminal it is read as a key, so that only pushdrop hears it (see Ui.keysInsteadOfSignals)
    const onAbort = () => stop();
    ctx.signal.addEventListener("abort", onAbort);
    const releaseKeys = ui.keysInsteadOfSignals(() => process.emit("SIGINT", "SIGINT"));

    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        while (queue.length > 0 && !finished) {
          const item = queue.shift()!;
          const outcome = await handle(item.msg).catch((e: unknown) => fail(item, e));
          if (outcome === "handled-transfer" && opts.once) return stop();
        }
      } finally {
        busy = false;
      }
    };

    const fail = (item: { msg: ServerMessage; tries: number }, e: unknown): "failed" => {
      if (ctx.signal.aborted) return "failed";
      const r = reportError(e);
      ui.warn(`error: ${r.message}`);
      ui.emitLine({ event: "error", transferId: "transfer" in item.msg ? item.msg.transfer.id : undefined, ...r.json });
      const passing = e instanceof NetworkError || (e instanceof ApiError && e.retryable);
      if (passing && item.tries < RETRIES) {
        ui.info(`will try again in ${RETRY_MS / 1000} s`);
        const t = setTimeout(() => {
          timers.delete(t);
          queue.push({ msg: item.msg, tries: item.tries + 1 });
          void pump();
        }, RETRY_MS);
        timers.add(t);
      } else if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 429) {
        channel.ack(item.msg.id); // expired, cancelled, used up: there is nothing left to get
      }
      // a checksum or unsafe-name error stays unacknowledged: `pushdrop get` can look again
      return "failed";
    };

    const handle = async (msg: ServerMessage): Promise<"handled-transfer" | "other" | "skipped"> => {
      switch (msg.type) {
        case "transfer.ready":
          return ready(msg.id, msg.transfer);
        case "transfer.downloaded":
          ui.print(`${msg.transferId}  downloaded by ${showId(msg.by)}`);
          ui.emitLine({ event: msg.type, transferId: msg.transferId, by: msg.by, at: msg.at });
          break;
        case "transfer.opened":
          ui.print(`${msg.transfer.id}  opened by ${showId(msg.by)}`);
          ui.emitLine({ event: msg.type, transferId: msg.transfer.id, by: msg.by });
          break;
        case "transfer.failed":
          ui.print(`${msg.transferId}  failed: ${shown(msg.reason)}`);
          ui.emitLine({ event: msg.type, transferId: msg.transferId, reason: msg.reason });
          break;
        case "terminal.key_changed": {
          // v1.2: a contact (or this terminal, elsewhere) published a new key; sealing to a pinned
          // contact stops until the person checks it (pushdrop key verify), so say so here
          const id = msg.terminal.id;
          const pin = pinOf(ctx, id);
          const held = id !== me.id && !!pin && pin.key !== msg.terminal.key;
          if (id === me.id) {
            // (read afresh: a `pushdrop key rotate` in another shell made a key this run has not seen)
            const here = new Set([ownKey, ...(loadConfig(ctx.env).terminals[ctx.server]?.keys ?? []).map((k) => k.recipient)]);
            if (msg.terminal.key !== null && here.has(msg.terminal.key)) ui.print(`${showId(id)}  (this terminal): the server now publishes a key this computer holds`);
            else ui.warn(`WARNING: ${showId(id)} (this terminal) now has a key that is not this computer's; see \`pushdrop whoami\``);
          } else if (held) {
            ui.print(
              pin!.verified
                ? `${showId(id)}  published a new key: \`pushdrop send\` to it stops until you compare safety numbers again (\`pushdrop key verify ${id}\`)`
                : `${showId(id)}  published a new key: \`pushdrop send\` to it stops until you accept it (\`pushdrop key accept ${id}\`) or compare safety numbers (\`pushdrop key verify ${id}\`)`,
            );
          } else {
            ui.print(`${showId(id)}  published a new key`);
          }
          ui.emitLine({ event: msg.type, terminal: id, key: msg.terminal.key, pinned: pin?.key ?? null });
          break;
        }
        default:
          ui.print(`${msg.transferId}  ${msg.type === "transfer.expired" ? "expired" : "cancelled by its sender"}`);
          ui.emitLine({ event: msg.type, transferId: msg.transferId });
      }
      channel.ack(msg.id);
      return "other";
    };

    /**
     * Whether to download an announced transfer: asks first without --auto (only on a terminal),
     * then looks at it again: the transfer as it is now, or "skipped" (gone, or downloaded already:
     * then acknowledged).
     */
    const toDownload = async (messageId: string, announced: Transfer): Promise<Transfer | "skipped"> => {
      if (!opts.auto) {
        if (!ui.interactive) {
          ui.info(`  not downloaded (pushdrop get ${announced.id}, or listen --auto)`);
          return "skipped";
        }
        if (!(await ui.confirm(`Download into ${dir}?`, true))) {
          ui.info(`  left in your inbox (pushdrop get ${announced.id})`);
          return "skipped";
        }
      }
      const t = await current(client, announced.id);
      if (!t || !["ready", "delivered"].includes(t.status)) {
        ui.print(`  ${announced.id} is ${t?.status ?? "gone"}: nothing to download`);
        ui.emitLine({ event: "gone", transferId: announced.id, status: t?.status ?? "gone" });
        channel.ack(messageId);
        return "skipped";
      }
      if (t.recipients.find((r) => r.id === me.id)?.downloadedAt) {
        // (the server's word: this terminal fetched it, by another run or another program; it
        // need not be in this folder, nor saved at all if that fetch failed its checks)
        ui.print(`  not downloaded: the server counts it downloaded by this terminal already (pushdrop get ${t.id} --dir … fetches it again)`);
        ui.emitLine({ event: "already", transferId: t.id });
        channel.ack(messageId);
        return "skipped";
      }
      return t;
    };

    const ready = async (messageId: string, announced: Transfer): Promise<"handled-transfer" | "skipped"> => {
      if (announced.sealed) return readySealed(messageId, announced);
      for (const line of describeTransfer(announced)) ui.print(line);
      if (announced.files.length === 0) {
        // a text message: printing it is delivering it
        ui.emitLine({ event: "message", transferId: announced.id, from: announced.from, message: announced.message });
        channel.ack(messageId);
        return "handled-transfer";
      }
      ui.emitLine({ event: "transfer.ready", transfer: announced });
      const t = await toDownload(messageId, announced);
      if (t === "skipped") return "skipped";
      const r = await receivePackage(client, ui, t, dir, ctx.signal);
      channel.ack(messageId);
      ui.emitLine({ event: "saved", transferId: t.id, from: t.from, message: t.message, dir, files: r.saved });
      if (!ui.json) for (const f of r.saved) ui.print(`  → ${shown(f.path)}`);
      return "handled-transfer";
    };

    /**
     * A sealed transfer: its seal.age alone is fetched (it never counts toward receipts) to show
     * the real names and message; a sealed text is then delivered (acked) like any text; files
     * go as with a plain transfer, the package opened with this terminal's keys.
     */
    const readySealed = async (messageId: string, announced: Transfer): Promise<"handled-transfer" | "skipped"> => {
      let doc: SealDocument | null = null;
      let why: string | undefined;
      if (identities.length > 0) {
        try {
          doc = await fetchSeal(client, announced, identities, ctx.signal);
        } catch (e) {
          if (e instanceof NetworkError || (e instanceof ApiError && e.retryable)) throw e;
          why = reportError(e).message;
        }
      } else why = "no key for this terminal here";
      for (const line of describeSealed(announced, doc, { why })) ui.print(line);
      if (doc && doc.files.length === 0) {
        ui.emitLine({ event: "message", transferId: announced.id, from: announced.from, sealed: true, message: doc.message });
        channel.ack(messageId);
        return "handled-transfer";
      }
      ui.emitLine({ event: "transfer.ready", transfer: announced, sealed: doc ? { message: doc.message, files: doc.files } : null });
      if (!doc) {
        // left unacknowledged: `pushdrop get` (with the right key) can still open it
        ui.emitLine({ event: "error", transferId: announced.id, error: { code: "cannot_open", message: why ?? "", kind: "integrity" } });
        return "skipped";
      }
      const t = await toDownload(messageId, announced);
      if (t === "skipped") return "skipped";
      // (the seal opened above: fetched once, checked again against the transfer as it is now)
      const r = await receivePackage(client, ui, t, dir, ctx.signal, identities, doc);
      channel.ack(messageId);
      ui.emitLine({ event: "saved", transferId: t.id, from: t.from, sealed: true, message: r.seal?.message ?? null, dir, files: r.saved });
      if (!ui.json) for (const f of r.saved) ui.print(`  → ${shown(f.path)}`);
      return "handled-transfer";
    };

    const channel = new LiveChannel(client, me.id, {
      WebSocket: NodeWebSocket,
      onMessage: (msg) => {
        queue.push({ msg, tries: 0 });
        void pump();
      },
      onState: (s, d) => {
        if (s === "open") {
          ui.info(opened ? "connected again" : `Listening as ${formatTerminalId(me.id)} on ${ctx.server}${opts.auto ? `, saving into ${dir}` : ""} (Ctrl-C to stop)`);
          ui.emitLine({ event: opened ? "reconnected" : "listening", id: me.id, server: ctx.server });
          opened = true;
        } else if (s === "reconnecting") {
          ui.info(`connection lost; trying again in ${Math.round((d?.retryInMs ?? 0) / 1000)} s`);
        } else if (s === "closed" && d?.error) {
          stop(d.error instanceof ApiError ? d.error : new CliError(`The live channel was closed: ${describeError(d.error)}`, EXIT.api, "socket_closed"));
        }
      },
    });
  });
}
