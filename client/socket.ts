import type { ServerMessage } from "../src/contract";
import { PING_INTERVAL_MS } from "../src/contract/limits";
import type { PushdropClient } from "./api";
import { ApiError } from "./errors";

/**
 * A terminal's live channel: the WebSocket that carries `transfer.ready`, receipts and end
 * messages. It reconnects with backoff when the connection drops, pings every 30 s (a text
 * "ping" the server answers without waking up), and hands each message to `onMessage` once
 * per channel even though the server replays every unacknowledged message on each
 * reconnect. The application acknowledges a message (`ack(id)`) once it has dealt with it
 * (shown it, downloaded it): until then the server keeps it.
 *
 * The WebSocket class is injected: the browser's, or `ws` in Node 20 (no global WebSocket).
 */

/** What the channel needs of a WebSocket: the browser's API, which `ws` also offers. */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: any) => void) | null;
}
export type WebSocketFactory = new (url: string) => WebSocketLike;

export type ChannelState = "connecting" | "open" | "reconnecting" | "closed";

export interface LiveChannelOptions {
  WebSocket: WebSocketFactory;
  onMessage: (msg: ServerMessage) => void;
  onState?: (state: ChannelState, detail?: { attempt?: number; retryInMs?: number; error?: unknown }) => void;
  pingMs?: number;
  /** delay before reconnect attempt n (1-based); default 1 s, 2 s, 4 s … 30 s, with jitter */
  backoffMs?: (attempt: number) => number;
}

const OPEN = 1;

export class LiveChannel {
  private ws: WebSocketLike | null = null;
  private state: ChannelState = "connecting";
  private attempt = 0;
  private stopped = false;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private lastHeard = 0;
  private readonly seen = new Set<string>();

  constructor(
    private readonly client: PushdropClient,
    readonly terminalId: string,
    private readonly opts: LiveChannelOptions,
  ) {
    this.connect();
  }

  get current(): ChannelState {
    return this.state;
  }

  /** Tells the server this message was dealt with: it is never sent again. */
  ack(id: string): void {
    this.sendFrame(JSON.stringify({ type: "ack", id }));
  }

  /** Closes the channel for good (no reconnect). */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    try {
      this.ws?.close(1000, "bye");
    } catch {
      // already closed
    }
    this.setState("closed");
  }

  /** Reconnects now (e.g. when the page becomes visible or the network comes back). */
  reconnectNow(): void {
    if (this.stopped || this.state === "open") return;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.connect();
  }

  private setState(s: ChannelState, detail?: { attempt?: number; retryInMs?: number; error?: unknown }): void {
    this.state = s;
    this.opts.onState?.(s, detail);
  }

  private sendFrame(frame: string): boolean {
    if (!this.ws || this.ws.readyState !== OPEN) return false;
    try {
      this.ws.send(frame);
      return true;
    } catch {
      return false;
    }
  }

  private connect(): void {
    if (this.stopped) return;
    const ws = new this.opts.WebSocket(this.client.socketUrl(this.terminalId));
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.setState("open");
      this.startPing();
    };
    ws.onmessage = (ev) => {
      this.lastHeard = Date.now();
      const text = typeof ev.data === "string" ? ev.data : String(ev.data);
      if (text === "pong") return;
      let msg: any;
      try {
        msg = JSON.parse(text);
      } catch {
        return;
      }
      // the server's last frame before it closes this socket: the close itself, as far as we go
      // (the connection may end only seconds later: see ControlMessage in src/contract)
      if (msg && msg.type === "error" && typeof msg.close === "number") return closed();
      if (!msg || typeof msg.type !== "string" || msg.type === "pong" || msg.type === "error") return;
      if (typeof msg.id !== "string" || this.seen.has(msg.id)) return;
      this.seen.add(msg.id);
      this.opts.onMessage(msg as ServerMessage);
    };
    ws.onerror = () => {
      // onclose follows
    };
    const closed = (): void => {
      if (this.ws !== ws) return;
      this.clearTimers();
      this.ws = null;
      try {
        ws.close(1000, "closing");
      } catch {
        // already closed
      }
      if (this.stopped) return;
      if (!opened) void this.checkAccess();
      this.scheduleReconnect();
    };
    ws.onclose = closed;
  }

  /**
   * A socket that never opened may have been refused for good (a revoked token, a deleted
   * terminal): browsers do not say why, so ask over HTTP; then stop instead of retrying forever.
   */
  private async checkAccess(): Promise<void> {
    try {
      await this.client.inbox(this.terminalId);
    } catch (e) {
      if (e instanceof ApiError && (e.status === 401 || e.status === 403 || e.status === 404)) {
        this.stopped = true;
        this.clearTimers();
        this.setState("closed", { error: e });
      }
    }
  }

  private scheduleReconnect(): void {
    this.attempt++;
    const wait = this.opts.backoffMs?.(this.attempt) ?? Math.min(30_000, 1000 * 2 ** (this.attempt - 1)) * (0.75 + Math.random() / 2);
    this.setState("reconnecting", { attempt: this.attempt, retryInMs: wait });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, wait);
  }

  private startPing(): void {
    const every = this.opts.pingMs ?? PING_INTERVAL_MS;
    this.pingTimer = setInterval(() => {
      // nothing heard for two rounds (not even the pong): the connection is dead, start over
      if (Date.now() - this.lastHeard > 2 * every + 5000) {
        const ws = this.ws;
        this.ws = null;
        try {
          ws?.close(4000, "silent");
        } catch {
          // ignore
        }
        this.clearTimers();
        this.scheduleReconnect();
        return;
      }
      this.sendFrame("ping");
    }, every);
  }

  private clearTimers(): void {
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.pingTimer = null;
    this.retryTimer = null;
  }
}
