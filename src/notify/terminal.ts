import { DurableObject } from "cloudflare:workers";
import { ACKED_RETENTION_MS, MAX_SUBSCRIPTIONS } from "../config";
import { ClientMessage, type ControlMessage, type PushSubscriptionJSON, type ServerMessage } from "../contract";
import { markNotified } from "../store/transfers";
import { isMessageOnly, messageRead } from "../deliver/read";
import { migrate, Outbox, type OutboxRow } from "./outbox";
import { checkPushEndpoint, parseAllowedHosts } from "./endpoints";
import { trimForPush } from "./trim";
import { MAX_PUSH_ATTEMPTS, retryWait, sendPush, vapidKeys, type StoredSubscription } from "./webpush";

/**
 * One Durable Object per terminal id. It holds the terminal's WebSockets (hibernation
 * API: an idle terminal costs nothing), its push subscriptions and its outbox: every
 * message stays queued until the terminal acknowledges it, is sent to every open socket,
 * replayed oldest first on each (re)connect, and sent by Web Push when no socket is open.
 */

export interface DeliverOptions {
  transferId: string | null;
  /** when the message stops mattering (its transfer's expiry); also the push TTL */
  expiresAt: number | null;
  /** a message of this type for the same transfer is retired when this one arrives */
  supersedes?: string;
}

interface PushRow {
  message_id: string;
  endpoint: string;
  attempts: number;
  next_at: number;
}

const PRUNE_EVERY_MS = 24 * 3600 * 1000;
/**
 * A socket counts as live while it was opened or heard from (any frame, or the "ping"
 * auto-response) this recently. A phone that loses its network leaves a half-open socket
 * behind; past this window its messages go by Web Push as well. Clients ping every 30 s.
 */
export const LIVE_WINDOW_MS = 90_000;
/** When the last socket closes, this many of the newest unacknowledged messages are pushed. */
const PUSH_ON_CLOSE = 10;

interface SocketState {
  seen: number;
  /** the generation of the token that opened it: a rotation closes older ones */
  gen?: number;
}

/** Close codes the server uses (4000–4999 are the application's). */
export const CLOSE_TOKEN_ROTATED = 4001;
export const CLOSE_TERMINAL_DELETED = 4004;

/** The push Topic: one per transfer (a newer message replaces an older one), one per receipt. */
export function pushTopic(msg: ServerMessage): string | undefined {
  if (msg.type === "transfer.downloaded") return `${msg.transferId}${msg.by}`.slice(0, 32);
  if (msg.type === "transfer.ready") return msg.transfer.id;
  return msg.transferId;
}

/**
 * A push's TTL: the seconds its message still matters (a transfer.ready: the transfer's
 * remaining life; receipts and end messages: their retention), at most the 28 days push
 * services keep a message. 0 (deliver now or never) in the last second.
 */
export function pushTtl(expiresAt: number | null, now: number): number {
  const MAX = 28 * 24 * 3600;
  return expiresAt === null ? MAX : Math.min(MAX, Math.max(0, Math.floor((expiresAt - now) / 1000)));
}

export class Terminal extends DurableObject<Env> {
  private readonly sql: SqlStorage;
  private readonly outbox: Outbox;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    migrate(this.sql);
    this.outbox = new Outbox(this.sql);
    // "ping" → "pong" without waking the object
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  private get terminalId(): string | null {
    const row = this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = 'terminal_id'").toArray()[0];
    return row?.value ?? null;
  }

  private remember(terminalId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO meta (key, value) VALUES ('terminal_id', ?)", terminalId);
  }

  private meta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  /** The oldest token generation whose sockets are still welcome. */
  private get minGen(): number {
    return Number(this.meta("min_gen") ?? 0);
  }

  private get deleted(): boolean {
    return this.meta("deleted") !== null;
  }

  // ---- managing the terminal ----------------------------------------------------------------

  /**
   * The terminal's token was rotated to generation `gen`: sockets opened with an older token
   * are closed, and refused from now on. Returns how many were closed.
   */
  async revokeSockets(gen: number): Promise<number> {
    if (gen > this.minGen) this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('min_gen', ?)", String(gen));
    let closed = 0;
    for (const ws of this.ctx.getWebSockets()) {
      if (((ws.deserializeAttachment() as SocketState | null)?.gen ?? 0) < this.minGen) {
        this.closeSocket(ws, CLOSE_TOKEN_ROTATED, "token rotated");
        closed++;
      }
    }
    return closed;
  }

  /** The terminal was deleted: its sockets close, and its messages, subscriptions and pushes are gone for good. */
  async erase(): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) this.closeSocket(ws, CLOSE_TERMINAL_DELETED, "terminal deleted");
    this.sql.exec("DELETE FROM outbox");
    this.sql.exec("DELETE FROM pushes");
    this.sql.exec("DELETE FROM subscriptions");
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES ('deleted', '1')");
    await this.ctx.storage.deleteAlarm();
  }

  private closeSocket(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  // ---- messages -----------------------------------------------------------------------

  /** Queues a message for this terminal and sends it now where it can. Idempotent by id. */
  async deliver(terminalId: string, msg: ServerMessage, opts: DeliverOptions): Promise<{ queued: boolean; sockets: number }> {
    if (this.deleted) return { queued: false, sockets: 0 };
    this.remember(terminalId);
    const now = Date.now();
    if (opts.supersedes && opts.transferId) this.outbox.retireForTransfer(opts.transferId, opts.supersedes, now);
    const queued = this.outbox.add(msg, opts.transferId, now, opts.expiresAt);
    const sockets = this.currentSockets();
    if (!queued) return { queued, sockets: sockets.length };
    const frame = JSON.stringify(msg);
    for (const ws of sockets) this.trySend(ws, frame);
    if (this.liveSockets(now).length > 0) {
      // (the socket has it already: the producer need not wait for the D1 write)
      this.ctx.waitUntil(this.recordNotified(terminalId, [msg], "socket"));
    } else {
      await this.schedulePush(msg.id, now);
    }
    return { queued, sockets: sockets.length };
  }

  /** Open sockets opened with the current token (a rotation closes the others). */
  private currentSockets(): WebSocket[] {
    const min = this.minGen;
    return this.ctx.getWebSockets().filter((ws) => ((ws.deserializeAttachment() as SocketState | null)?.gen ?? 0) >= min);
  }

  /** Open sockets heard from within LIVE_WINDOW_MS. */
  private liveSockets(now: number): WebSocket[] {
    return this.currentSockets().filter((ws) => {
      const state = ws.deserializeAttachment() as SocketState | null;
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      return now - Math.max(state?.seen ?? 0, pinged) < LIVE_WINDOW_MS;
    });
  }

  async pendingCount(): Promise<number> {
    return this.outbox.countPending(Date.now());
  }

  /** The live channel: `GET /v1/terminals/{id}/socket`, authorised by the worker. */
  override async fetch(request: Request): Promise<Response> {
    const terminalId = request.headers.get("x-pushdrop-terminal");
    const gen = Number(request.headers.get("x-pushdrop-token-gen") ?? "0");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !terminalId) {
      return new Response("expected a websocket upgrade", { status: 426 });
    }
    // the token was rotated (or the terminal deleted) after the worker checked it
    if (this.deleted || gen < this.minGen) return new Response("the token is not valid", { status: 401 });
    this.remember(terminalId);
    // a socket opened with a rotated token closes those opened with older ones (should the
    // rotation's own call have failed); generation 1 was never rotated: nothing to close
    if (gen > 1 && gen > this.minGen) await this.revokeSockets(gen);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const now = Date.now();
    server.serializeAttachment({ seen: now, gen } satisfies SocketState);
    const pending = this.outbox.pending(now);
    for (const row of pending) this.trySend(server, row.body);
    // a socket is open now: it takes over from any push still waiting to be (re)tried
    this.supersedePushes();
    const ready = pending.filter((r) => r.type === "transfer.ready").map((r) => JSON.parse(r.body) as ServerMessage);
    if (ready.length > 0) this.ctx.waitUntil(this.recordNotified(terminalId, ready, "socket"));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const gen = (ws.deserializeAttachment() as SocketState | null)?.gen ?? 0;
    if (gen < this.minGen || this.deleted) return this.closeSocket(ws, CLOSE_TOKEN_ROTATED, "token rotated");
    ws.serializeAttachment({ seen: Date.now(), gen } satisfies SocketState);
    if (typeof data !== "string") return this.reply(ws, { type: "error", error: { code: "binary_frame", message: "Frames are JSON text." } });
    if (data.length > 4096) return this.reply(ws, { type: "error", error: { code: "frame_too_large", message: "Frames are at most 4096 characters." } });
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return this.reply(ws, { type: "error", error: { code: "invalid_json", message: "A frame must be JSON." } });
    }
    const msg = ClientMessage.safeParse(parsed);
    if (!msg.success) {
      return this.reply(ws, {
        type: "error",
        error: { code: "invalid_message", message: 'Send {"type":"ack","id":"<message id>"} or {"type":"ping"}.' },
      });
    }
    if (msg.data.type === "ping") return this.reply(ws, { type: "pong" });
    const now = Date.now();
    const row = this.outbox.get(msg.data.id);
    if (this.outbox.ack(msg.data.id, now)) {
      this.sql.exec("UPDATE pushes SET state = 'superseded' WHERE message_id = ? AND state = 'pending'", msg.data.id);
      await this.acknowledged(row!);
    }
    // acking an unknown or already acknowledged id is harmless and answered with nothing
  }

  /** A message without files is delivered by its ack; if that cannot be recorded now, it stays unacknowledged. */
  private async acknowledged(row: OutboxRow): Promise<void> {
    if (row.type !== "transfer.ready") return;
    const msg = JSON.parse(row.body) as ServerMessage;
    const terminalId = this.terminalId;
    if (!isMessageOnly(msg) || !terminalId) return;
    try {
      await messageRead(this.env, msg.transfer.id, terminalId);
    } catch (e) {
      console.error(JSON.stringify({ event: "receipt_failed", transfer: msg.transfer.id, terminal: terminalId, error: String(e) }));
      this.outbox.reopen(row);
    }
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // already closed
    }
    await this.socketGone(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    try {
      ws.close(1011, "error");
    } catch {
      // already closed
    }
    await this.socketGone(ws);
  }

  /**
   * The last socket went away with messages it never acknowledged (it may never have
   * seen them): the newest of those go by Web Push, once each.
   */
  private async socketGone(ws: WebSocket): Promise<void> {
    const now = Date.now();
    if (this.liveSockets(now).some((other) => other !== ws)) return;
    const unacked = this.outbox.pending(now).slice(-PUSH_ON_CLOSE);
    for (const row of unacked) await this.schedulePush(row.id, now);
  }

  private trySend(ws: WebSocket, frame: string): void {
    try {
      ws.send(frame);
    } catch {
      // a socket closing under us: the message stays queued and is replayed on reconnect
    }
  }

  private reply(ws: WebSocket, msg: ControlMessage): void {
    this.trySend(ws, JSON.stringify(msg));
  }

  private async recordNotified(terminalId: string, msgs: readonly ServerMessage[], channel: "socket" | "push"): Promise<void> {
    const now = Date.now();
    for (const m of msgs) {
      if (m.type !== "transfer.ready") continue;
      try {
        await markNotified(this.env.DB, m.transfer.id, terminalId, channel, now);
      } catch (e) {
        console.error("recording notifiedAt failed", m.transfer.id, terminalId, e);
      }
    }
  }

  // ---- push subscriptions -----------------------------------------------------------

  async putSubscription(terminalId: string, sub: PushSubscriptionJSON): Promise<void> {
    if (this.deleted) return;
    this.remember(terminalId);
    this.sql.exec(
      `INSERT INTO subscriptions (endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at`,
      sub.endpoint,
      sub.keys.p256dh,
      sub.keys.auth,
      Date.now(),
    );
    // a terminal keeps its newest MAX_SUBSCRIPTIONS subscriptions; older ones give way
    this.sql.exec(
      `DELETE FROM subscriptions WHERE endpoint NOT IN
         (SELECT endpoint FROM subscriptions ORDER BY created_at DESC, rowid DESC LIMIT ?)`,
      MAX_SUBSCRIPTIONS,
    );
  }

  /** Removes one subscription (by endpoint) or, without an endpoint, all of them. */
  async deleteSubscription(endpoint?: string): Promise<number> {
    const cur = endpoint
      ? this.sql.exec("DELETE FROM subscriptions WHERE endpoint = ?", endpoint)
      : this.sql.exec("DELETE FROM subscriptions");
    this.sql.exec("UPDATE pushes SET state = 'gone' WHERE state = 'pending' AND endpoint NOT IN (SELECT endpoint FROM subscriptions)");
    return cur.rowsWritten;
  }

  async hasPush(): Promise<boolean> {
    return (await this.subscriptionCount()) > 0;
  }

  async subscriptionCount(): Promise<number> {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM subscriptions").one().n;
  }

  /** Attempts per message and endpoint, for the Transfer's observability and for tests. */
  async pushLog(): Promise<Array<{ message_id: string; endpoint: string; state: string; attempts: number; last_status: number | null }>> {
    return this.sql
      .exec<{ message_id: string; endpoint: string; state: string; attempts: number; last_status: number | null }>(
        "SELECT message_id, endpoint, state, attempts, last_status FROM pushes ORDER BY rowid",
      )
      .toArray();
  }

  // ---- Web Push -------------------------------------------------------------------------

  /** A live socket takes over: every push still waiting to be (re)tried is superseded. */
  private supersedePushes(): void {
    this.sql.exec("UPDATE pushes SET state = 'superseded' WHERE state = 'pending'");
  }

  /**
   * A push of the message to every subscription, due now. A push that a socket took over
   * (superseded) is due again: that socket went away without acknowledging the message.
   * One that was sent, failed for good or whose subscription is gone stays as it is.
   */
  private async schedulePush(messageId: string, now: number): Promise<void> {
    const cur = this.sql.exec(
      `INSERT INTO pushes (message_id, endpoint, state, next_at)
       SELECT ?, endpoint, 'pending', ? FROM subscriptions WHERE true
       ON CONFLICT (message_id, endpoint) DO UPDATE SET state = 'pending', next_at = excluded.next_at
       WHERE pushes.state = 'superseded'`,
      messageId,
      now,
    );
    if (cur.rowsWritten > 0) await this.armAlarm(now);
  }

  private async armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    if (this.liveSockets(now).length > 0) {
      this.supersedePushes();
    } else {
      await this.sendDuePushes(now);
    }
    this.outbox.prune(now, ACKED_RETENTION_MS);
    this.sql.exec("DELETE FROM pushes WHERE state != 'pending' AND message_id NOT IN (SELECT id FROM outbox)");
    const next = this.sql
      .exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM pushes WHERE state = 'pending'")
      .one().at;
    const hasMessages = this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM outbox").one().n > 0;
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, Date.now()));
    else if (hasMessages) await this.ctx.storage.setAlarm(now + PRUNE_EVERY_MS);
  }

  /**
   * Sends the pushes that are due. Each subscription's pushes go in order, the subscriptions
   * side by side: a push service that is slow or never answers (PUSH_TIMEOUT_MS) holds up
   * only its own subscription. Before each send the push is looked at again: a socket that
   * opened or an ack that came while an earlier push was under way takes over.
   */
  private async sendDuePushes(now: number): Promise<void> {
    const vapid = vapidKeys(this.env);
    const due = this.sql
      .exec<PushRow & Record<string, SqlStorageValue>>(
        "SELECT message_id, endpoint, attempts, next_at FROM pushes WHERE state = 'pending' AND next_at <= ? ORDER BY next_at",
        now,
      )
      .toArray();
    if (due.length === 0) return;
    if (!vapid) {
      console.error("Web Push is not configured (VAPID_PUBLIC_KEY / VAPID_PRIVATE_KEY missing)");
      this.sql.exec("UPDATE pushes SET state = 'failed' WHERE state = 'pending'");
      return;
    }
    const byEndpoint = new Map<string, PushRow[]>();
    for (const row of due) byEndpoint.set(row.endpoint, [...(byEndpoint.get(row.endpoint) ?? []), row]);
    await Promise.all(
      [...byEndpoint.values()].map(async (rows) => {
        for (const row of rows) await this.sendOnePush(row, vapid);
      }),
    );
  }

  private async sendOnePush(row: PushRow, vapid: NonNullable<ReturnType<typeof vapidKeys>>): Promise<void> {
    const now = Date.now();
    if (this.liveSockets(now).length > 0) {
      this.supersedePushes();
      return;
    }
    const still = this.sql
      .exec<{ state: string }>("SELECT state FROM pushes WHERE message_id = ? AND endpoint = ?", row.message_id, row.endpoint)
      .toArray()[0];
    // acked, taken over by a socket, or its endpoint answered 404/410 to an earlier push
    if (still?.state !== "pending") return;
    const msg = this.outbox.get(row.message_id);
    const sub = this.sql
      .exec<StoredSubscription & Record<string, SqlStorageValue>>("SELECT endpoint, p256dh, auth FROM subscriptions WHERE endpoint = ?", row.endpoint)
      .toArray()[0];
    if (!msg || msg.acked_at !== null || !sub || (msg.expires_at !== null && msg.expires_at <= now)) {
      this.sql.exec(
        "UPDATE pushes SET state = 'superseded' WHERE message_id = ? AND endpoint = ? AND state = 'pending'",
        row.message_id,
        row.endpoint,
      );
      return;
    }
    const message = JSON.parse(msg.body) as ServerMessage;
    // stored before the rule, or the operator's list changed since: never sent there
    const outcome = !checkPushEndpoint(sub.endpoint, parseAllowedHosts(this.env.PUSH_ENDPOINT_HOSTS)).ok
      ? ({ kind: "gone", status: 0 } as const)
      : await sendPush(
      sub,
      JSON.stringify(trimForPush(message)),
      { ttl: pushTtl(msg.expires_at, now), urgency: message.type === "transfer.ready" ? "high" : "normal", topic: pushTopic(message) },
      vapid,
      now,
    );
    const attempts = row.attempts + 1;
    const terminalId = this.terminalId;
    console.log(
      JSON.stringify({ event: "push", terminal: terminalId, message: row.message_id, endpoint: new URL(row.endpoint).origin, attempt: attempts, outcome: outcome.kind, status: outcome.status, ...(outcome.kind === "rejected" ? { detail: outcome.detail } : {}) }),
    );
    switch (outcome.kind) {
      case "sent":
        this.sql.exec(
          "UPDATE pushes SET state = 'sent', attempts = ?, last_status = ? WHERE message_id = ? AND endpoint = ?",
          attempts, outcome.status, row.message_id, row.endpoint,
        );
        if (terminalId) await this.recordNotified(terminalId, [message], "push");
        break;
      case "gone":
        this.sql.exec("DELETE FROM subscriptions WHERE endpoint = ?", row.endpoint);
        this.sql.exec("UPDATE pushes SET state = 'gone', last_status = ? WHERE endpoint = ? AND state = 'pending'", outcome.status, row.endpoint);
        this.sql.exec("UPDATE pushes SET attempts = ? WHERE message_id = ? AND endpoint = ?", attempts, row.message_id, row.endpoint);
        break;
      case "retry": {
        const state = attempts >= MAX_PUSH_ATTEMPTS ? "failed" : "pending";
        // Retry-After is what the push service asks for (shorter or longer than our
        // backoff); without it, exponential backoff
        const wait = retryWait(outcome.retryAfterMs, attempts);
        // a socket that opened (or an ack that came) while the push service was answering
        // has superseded this push meanwhile: keep that, record only the attempt
        this.sql.exec(
          "UPDATE pushes SET state = CASE WHEN state = 'pending' THEN ? ELSE state END, attempts = ?, last_status = ?, next_at = ? WHERE message_id = ? AND endpoint = ?",
          state, attempts, outcome.status, Date.now() + wait, row.message_id, row.endpoint,
        );
        break;
      }
      case "rejected":
        this.sql.exec(
          "UPDATE pushes SET state = 'failed', attempts = ?, last_status = ? WHERE message_id = ? AND endpoint = ?",
          attempts, outcome.status, row.message_id, row.endpoint,
        );
        break;
    }
  }
}
