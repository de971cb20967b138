import { DurableObject } from "cloudflare:workers";
import type { PushSubscriptionJSON, ServerMessage } from "../contract";
import { originOfRequest, renderMessage } from "./links";
import type { EnqueueOptions } from "./producers";
import { Meta } from "./meta";
import { Outbox } from "./outbox";
import { Pusher } from "./pusher";
import { Pushes, type PushLogRow } from "./pushes";
import { acknowledged, recordNotified } from "./receipts";
import { migrate } from "./schema";
import { CLOSE_TERMINAL_DELETED, readFrame, Sockets } from "./sockets";
import { Subscriptions } from "./subscriptions";

/**
 * One Durable Object per terminal id. It holds the terminal's WebSockets (hibernation
 * API: an idle terminal costs nothing), its push subscriptions and its outbox: every
 * message stays queued until the terminal acknowledges it, is sent to every open socket,
 * replayed oldest first on each (re)connect, and sent by Web Push when no socket is open.
 *
 * This class is a thin adapter from the runtime's entry points (RPC, fetch, WebSocket
 * events, alarm) to small parts, one job each: meta.ts (what it knows of itself), outbox.ts,
 * sockets.ts, subscriptions.ts, pushes.ts (push bookkeeping), pusher.ts (sending them),
 * receipts.ts (what it writes back to D1); schema.ts is their storage.
 */

/** Messages that are never pushed, whatever the sockets do: a key is checked by an open client, not announced on a lock screen. */
const NEVER_PUSHED: ReadonlySet<string> = new Set(["terminal.key_changed"]);

/** When the last socket closes, this many of the newest unacknowledged messages are pushed. */
const PUSH_ON_CLOSE = 10;

export class Terminal extends DurableObject<Env> {
  private readonly meta: Meta;
  private readonly outbox: Outbox;
  private readonly subscriptions: Subscriptions;
  private readonly pushes: Pushes;
  private readonly sockets: Sockets;
  private readonly pusher: Pusher;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    migrate(sql);
    this.meta = new Meta(sql);
    this.outbox = new Outbox(sql);
    this.subscriptions = new Subscriptions(sql);
    this.pushes = new Pushes(sql);
    this.sockets = new Sockets(ctx, this.meta);
    this.pusher = new Pusher({ ctx, env, meta: this.meta, outbox: this.outbox, subscriptions: this.subscriptions, pushes: this.pushes, sockets: this.sockets });
    // "ping" → "pong" without waking the object
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  // ---- messages -----------------------------------------------------------------------

  /** Queues a message for this terminal and sends it now where it can. Idempotent by id. */
  async enqueue(terminalId: string, msg: ServerMessage, opts: EnqueueOptions): Promise<{ queued: boolean; sockets: number }> {
    if (this.meta.deleted) return { queued: false, sockets: 0 };
    this.meta.remember(terminalId);
    const now = Date.now();
    if (opts.supersedes && opts.transferId) this.outbox.retireForTransfer(opts.transferId, opts.supersedes, now);
    // a newer key of the same terminal replaces an older announcement still unacknowledged (and an older one is not queued after it)
    if (msg.type === "terminal.key_changed" && !this.outbox.supersedeKey(msg.terminal.id, msg.id, now)) return { queued: false, sockets: this.sockets.current().length };
    const queued = this.outbox.add(msg, opts.transferId, now, opts.expiresAt);
    const sockets = this.sockets.current();
    if (!queued) return { queued, sockets: sockets.length };
    if (sockets.length > 0) {
      // its links are made now, for each socket's own origin (see links.ts)
      const render = await renderMessage(this.env, msg, terminalId, this.meta.tokenGen);
      for (const ws of sockets) this.sockets.send(ws, JSON.stringify(render(this.sockets.originOf(ws) ?? this.meta.origin)));
    }
    // (the socket has it already: the producer need not wait for the D1 write)
    if (this.sockets.live(now).length > 0) this.ctx.waitUntil(recordNotified(this.env, terminalId, [msg], "socket"));
    else if (!NEVER_PUSHED.has(msg.type)) await this.pusher.schedule(msg.id, now);
    return { queued, sockets: sockets.length };
  }

  async pendingCount(): Promise<number> {
    return this.outbox.countPending(Date.now());
  }

  // ---- the live channel -----------------------------------------------------------------

  /** `GET /v1/terminals/{id}/socket`, authorised by the worker (which names the terminal and its token generation). */
  override async fetch(request: Request): Promise<Response> {
    const terminalId = request.headers.get("x-pushdrop-terminal");
    const gen = Number(request.headers.get("x-pushdrop-token-gen") ?? "0");
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket" || !terminalId) {
      return new Response("expected a websocket upgrade", { status: 426 });
    }
    // the token was rotated (or the terminal deleted) after the worker checked it
    if (this.meta.deleted || gen < this.meta.minGen) return new Response("the token is not valid", { status: 401 });
    this.meta.remember(terminalId);
    // a socket opened with a rotated token closes those opened with older ones (should the
    // rotation's own call have failed); generation 1 was never rotated: nothing to close
    if (gen > 1 && gen > this.meta.minGen) this.sockets.revoke(gen);
    // links sent to this socket point where it was opened; pushes, where the terminal last was
    const origin = originOfRequest(request);
    if (origin) this.meta.noteOrigin(origin, gen);
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    const now = Date.now();
    this.sockets.accept(server, gen, now, origin);
    const pending = this.outbox.pending(now);
    // replayed messages get links of now: signed for the current token, on this socket's origin
    const tokenGen = this.meta.tokenGen;
    for (const row of pending) {
      const render = await renderMessage(this.env, JSON.parse(row.body) as ServerMessage, terminalId, tokenGen);
      this.sockets.send(server, JSON.stringify(render(origin ?? this.meta.origin)));
    }
    // a socket is open now: it takes over from any push still waiting to be (re)tried
    this.pushes.supersedeAll();
    const ready = pending.filter((r) => r.type === "transfer.ready").map((r) => JSON.parse(r.body) as ServerMessage);
    if (ready.length > 0) this.ctx.waitUntil(recordNotified(this.env, terminalId, ready, "socket"));
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const now = Date.now();
    if (!this.sockets.heard(ws, now)) return;
    const frame = readFrame(data);
    if ("error" in frame) return this.sockets.reply(ws, frame.error);
    if (frame.msg.type === "ping") return this.sockets.reply(ws, { type: "pong" });
    const row = this.outbox.get(frame.msg.id);
    if (this.outbox.ack(frame.msg.id, now)) {
      this.pushes.supersedeMessage(frame.msg.id);
      await acknowledged(this.env, this.outbox, row!, this.meta.terminalId);
    }
    // acking an unknown or already acknowledged id is harmless and answered with nothing
  }

  override async webSocketClose(ws: WebSocket, code: number, reason: string): Promise<void> {
    this.sockets.close(ws, code === 1005 || code === 1006 ? 1000 : code, reason);
    await this.socketGone(ws);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    this.sockets.close(ws, 1011, "error");
    await this.socketGone(ws);
  }

  /**
   * The last socket went away with messages it never acknowledged (it may never have
   * seen them): the newest of those go by Web Push, once each.
   */
  private async socketGone(ws: WebSocket): Promise<void> {
    const now = Date.now();
    if (this.sockets.live(now).some((other) => other !== ws)) return;
    const unacked = this.outbox.pending(now).filter((row) => !NEVER_PUSHED.has(row.type)).slice(-PUSH_ON_CLOSE);
    for (const row of unacked) await this.pusher.schedule(row.id, now);
  }

  // ---- managing the terminal ----------------------------------------------------------------

  /**
   * The terminal's token was rotated to generation `gen`: sockets opened with an older token
   * are closed, and refused from now on. Returns how many were closed.
   */
  async revokeSockets(gen: number): Promise<number> {
    return this.sockets.revoke(gen);
  }

  /** The terminal was deleted: its sockets close, and its messages, subscriptions and pushes are gone for good. */
  async erase(): Promise<void> {
    this.sockets.closeAll(CLOSE_TERMINAL_DELETED, "terminal deleted");
    this.outbox.clear();
    this.pushes.clear();
    this.subscriptions.delete();
    this.meta.markDeleted();
    await this.ctx.storage.deleteAlarm();
  }

  // ---- push subscriptions -----------------------------------------------------------

  /** Stores a subscription; `origin` and `gen`: where the terminal subscribed from, with which token generation. */
  async putSubscription(terminalId: string, sub: PushSubscriptionJSON, origin?: string | null, gen?: number): Promise<void> {
    if (this.meta.deleted) return;
    this.meta.remember(terminalId);
    if (origin && gen !== undefined) this.meta.noteOrigin(origin, gen);
    this.subscriptions.put(sub, Date.now(), gen ?? null);
  }

  /** Removes one subscription (by endpoint) or, without an endpoint, all of them. */
  async deleteSubscription(endpoint?: string): Promise<number> {
    const removed = this.subscriptions.delete(endpoint);
    this.pushes.dropOrphans();
    return removed;
  }

  async hasPush(): Promise<boolean> {
    return this.subscriptions.count() > 0;
  }

  async subscriptionCount(): Promise<number> {
    return this.subscriptions.count();
  }

  /** Attempts per message and endpoint, for observability and for tests. */
  async pushLog(): Promise<PushLogRow[]> {
    return this.pushes.log();
  }

  override async alarm(): Promise<void> {
    await this.pusher.alarm(Date.now());
  }
}
