import WebSocket from "ws";
import type { PushdropClient, WebSocketFactory } from "../client";

/** Node 20 has no global WebSocket: the live channel gets `ws`, which has the browser's API. */
export const NodeWebSocket = WebSocket as unknown as WebSocketFactory;

/**
 * Acknowledges messages by id on a short-lived connection (after `pushdrop get`, so that a
 * later `listen` does not offer the same transfer again; for a text message, the ack is what
 * delivers it). Waits for the answer to a JSON ping sent after the acks: the server handles
 * a socket's frames in order, so by then the acks are recorded. Best effort: false on failure.
 */
export function ackOnce(client: PushdropClient, terminalId: string, ids: readonly string[], timeoutMs = 10_000): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(client.socketUrl(terminalId));
    const done = (ok: boolean) => {
      clearTimeout(timer);
      try {
        ws.close(1000, "bye");
      } catch {
        // already closed
      }
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    ws.on("open", () => {
      for (const id of ids) ws.send(JSON.stringify({ type: "ack", id }));
      ws.send(JSON.stringify({ type: "ping" }));
    });
    ws.on("message", (data) => {
      try {
        if ((JSON.parse(String(data)) as { type?: string }).type === "pong") done(true);
      } catch {
        // not JSON: ignore
      }
    });
    ws.on("error", () => done(false));
    ws.on("close", () => done(false));
  });
}
