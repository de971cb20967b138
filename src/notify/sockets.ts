import { MAX_SOCKETS } from "../config";
import { ClientMessage, type ControlMessage } from "../contract";
import type { Meta } from "./meta";

/**
 * A terminal's live sockets (the hibernation API keeps them across evictions; each carries a
 * small attachment): which are current (opened with the current token), which are live
 * (heard from lately), sending to them, closing them.
 */

/**
 * A socket counts as live while it was opened or heard from (any frame, or the "ping"
 * auto-response) this recently. A phone that loses its network leaves a half-open socket
 * behind; past this window its messages go by Web Push as well. Clients ping every 30 s.
 */
export const LIVE_WINDOW_MS = 90_000;

/** Close codes the server uses (4000–4999 are the application's). */
export const CLOSE_TOKEN_ROTATED = 4001;
export const CLOSE_TERMINAL_DELETED = 4004;
export const CLOSE_TOO_MANY_SOCKETS = 4008;

/** The control frame sent just before each server-initiated close, saying why in words. */
const CLOSING: Record<4001 | 4004 | 4008, { code: string; message: string }> = {
  [CLOSE_TOKEN_ROTATED]: { code: "token_rotated", message: "This terminal's token was rotated: this socket is closed. Connect again with the new token." },
  [CLOSE_TERMINAL_DELETED]: { code: "terminal_deleted", message: "This terminal was deleted: this socket is closed." },
  [CLOSE_TOO_MANY_SOCKETS]: { code: "too_many_sockets", message: "This terminal opened too many sockets: this one, heard from longest ago, is closed." },
};

interface SocketState {
  seen: number;
  /** the generation of the token that opened it: a rotation closes older ones */
  gen?: number;
  /** the origin it was opened at: the links it is sent point there (unless PUBLIC_URL is set) */
  origin?: string;
}

const stateOf = (ws: WebSocket) => ws.deserializeAttachment() as SocketState | null;

export class Sockets {
  constructor(
    private readonly ctx: DurableObjectState,
    private readonly meta: Meta,
  ) {}

  /** Takes a new socket; past MAX_SOCKETS, the one heard from longest ago is closed (4008). */
  accept(server: WebSocket, gen: number, now: number, origin: string | null): void {
    const open = this.ctx.getWebSockets();
    if (open.length >= MAX_SOCKETS) {
      const heard = (ws: WebSocket) => Math.max(stateOf(ws)?.seen ?? 0, this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0);
      const oldest = open.reduce((a, b) => (heard(b) < heard(a) ? b : a));
      this.end(oldest, CLOSE_TOO_MANY_SOCKETS, "too many sockets");
    }
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ seen: now, gen, ...(origin ? { origin } : {}) } satisfies SocketState);
  }

  /** Open sockets opened with the current token (a rotation closes the others). */
  current(): WebSocket[] {
    const min = this.meta.minGen;
    return this.ctx.getWebSockets().filter((ws) => (stateOf(ws)?.gen ?? 0) >= min);
  }

  /** Current sockets heard from within LIVE_WINDOW_MS. */
  live(now: number): WebSocket[] {
    return this.current().filter((ws) => {
      const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
      return now - Math.max(stateOf(ws)?.seen ?? 0, pinged) < LIVE_WINDOW_MS;
    });
  }

  /** A frame came: the socket is live; false (and it is closed) when its token is no longer good. */
  heard(ws: WebSocket, now: number): boolean {
    const gen = stateOf(ws)?.gen ?? 0;
    if (this.meta.deleted) {
      this.end(ws, CLOSE_TERMINAL_DELETED, "terminal deleted");
      return false;
    }
    if (gen < this.meta.minGen) {
      this.end(ws, CLOSE_TOKEN_ROTATED, "token rotated");
      return false;
    }
    ws.serializeAttachment({ ...stateOf(ws), seen: now, gen } satisfies SocketState);
    return true;
  }

  /** The origin a socket was opened at, if known. */
  originOf(ws: WebSocket): string | null {
    return stateOf(ws)?.origin ?? null;
  }

  /** Closes the sockets opened with a token older than generation `gen`, which is the oldest welcome from now on. */
  revoke(gen: number): number {
    this.meta.raiseMinGen(gen);
    const min = this.meta.minGen;
    let closed = 0;
    for (const ws of this.ctx.getWebSockets()) {
      if ((stateOf(ws)?.gen ?? 0) < min) {
        this.end(ws, CLOSE_TOKEN_ROTATED, "token rotated");
        closed++;
      }
    }
    return closed;
  }

  closeAll(code: typeof CLOSE_TERMINAL_DELETED, reason: string): void {
    for (const ws of this.ctx.getWebSockets()) this.end(ws, code, reason);
  }

  /**
   * Closes a socket for a reason of the server's (rotation, deletion, over the cap), after a
   * last control frame saying so: `{"type":"error","error":{…},"close":<code>}`. Why: under
   * `npm start` (workerd 1.20260426, with or without wrangler's proxy in front) a socket whose
   * client has not sent a frame yet gets the close frame at once, but its connection ends only
   * ~10 s later, and WebSocket clients report the close only when the connection ends (ws:
   * after those 10 s; Chromium: after its own 2 s wait); a socket that has sent any frame, even
   * "ping", is ended at once. This code path is the same in both cases (it is the runtime's
   * doing); a text frame arrives at once in both. Measurements: docs/api.md, *Live channel*;
   * the test: test/node/links.test.ts.
   */
  end(ws: WebSocket, code: keyof typeof CLOSING, reason: string): void {
    this.reply(ws, { type: "error", error: CLOSING[code], close: code });
    this.close(ws, code, reason);
  }

  /** Closes a socket, without a word (answering the client's own close). */
  close(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code, reason);
    } catch {
      // already closed
    }
  }

  send(ws: WebSocket, frame: string): void {
    try {
      ws.send(frame);
    } catch {
      // a socket closing under us: the message stays queued and is replayed on reconnect
    }
  }

  reply(ws: WebSocket, msg: ControlMessage): void {
    this.send(ws, JSON.stringify(msg));
  }
}

/** What a client's frame asks for, or the error frame that answers it. */
export function readFrame(data: string | ArrayBuffer): { msg: ClientMessage } | { error: ControlMessage } {
  const error = (code: string, message: string) => ({ error: { type: "error", error: { code, message } } as ControlMessage });
  if (typeof data !== "string") return error("binary_frame", "Frames are JSON text.");
  if (data.length > 4096) return error("frame_too_large", "Frames are at most 4096 characters.");
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return error("invalid_json", "A frame must be JSON.");
  }
  const msg = ClientMessage.safeParse(parsed);
  if (!msg.success) return error("invalid_message", 'Send {"type":"ack","id":"<message id>"} or {"type":"ping"}.');
  return { msg: msg.data };
}
