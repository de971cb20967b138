import { z } from "zod";
import type { Transfer } from "./transfers";

/** Messages the server sends on a terminal's live channel (and, trimmed, by Web Push). */
export type ServerMessage =
  | { type: "transfer.ready"; id: string; transfer: Transfer }
  | { type: "transfer.downloaded"; id: string; transferId: string; by: string; at: string }
  | { type: "transfer.expired"; id: string; transferId: string }
  | { type: "transfer.cancelled"; id: string; transferId: string }
  | { type: "transfer.failed"; id: string; transferId: string; reason: string };

export type ServerMessageType = ServerMessage["type"];

/** Control frames the server sends that are not queued and need no ack. */
export type ControlMessage =
  | { type: "pong" }
  | { type: "error"; error: { code: string; message: string } };

/** What a client may send on the live channel. A bare "ping" text frame is answered "pong". */
export const ClientMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ack"), id: z.string().min(1).max(200) }),
  z.object({ type: z.literal("ping") }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
