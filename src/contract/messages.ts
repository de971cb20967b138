import { z } from "zod";
import { Transfer } from "./transfers";

/**
 * Messages the server sends on a terminal's live channel and, trimmed, by Web Push. Each is
 * queued until the terminal answers `{"type": "ack", "id"}`.
 */
export const TransferReadyMessage = z.object({ type: z.literal("transfer.ready"), id: z.string(), transfer: Transfer });
export const TransferDownloadedMessage = z.object({
  type: z.literal("transfer.downloaded"),
  id: z.string(),
  transferId: z.string(),
  by: z.string(),
  at: z.string(),
});
/** v1.2: a recipient looked at the transfer (`POST /v1/transfers/{id}/opened`); sent to the sender once per recipient. */
export const TransferOpenedMessage = z.object({
  type: z.literal("transfer.opened"),
  id: z.string(),
  transfer: Transfer,
  by: z.string(),
});
export const TransferEndedMessage = z.object({
  type: z.enum(["transfer.expired", "transfer.cancelled"]),
  id: z.string(),
  transferId: z.string(),
});
export const TransferFailedMessage = z.object({
  type: z.literal("transfer.failed"),
  id: z.string(),
  transferId: z.string(),
  reason: z.string(),
});

/**
 * v1.2: a terminal published a new age key (`PUT /v1/terminals/{id}/key`). Sent to every terminal
 * that has it among its contacts and to the terminal itself; `id` is "<terminal id>.key.<n>",
 * n counting its keys (1 for the first). Acknowledged like any message; never sent by Web Push.
 */
export const TerminalKeyChangedMessage = z.object({
  type: z.literal("terminal.key_changed"),
  id: z.string(),
  terminal: z.object({ id: z.string(), name: z.string(), key: z.string().nullable() }),
});

export type ServerMessage =
  | z.infer<typeof TransferReadyMessage>
  | z.infer<typeof TransferDownloadedMessage>
  | z.infer<typeof TransferOpenedMessage>
  | { type: "transfer.expired"; id: string; transferId: string }
  | { type: "transfer.cancelled"; id: string; transferId: string }
  | z.infer<typeof TransferFailedMessage>
  | z.infer<typeof TerminalKeyChangedMessage>;
export const ServerMessage: z.ZodType<ServerMessage> = z.union([
  TransferReadyMessage,
  TransferDownloadedMessage,
  TransferOpenedMessage,
  TransferEndedMessage,
  TransferFailedMessage,
  TerminalKeyChangedMessage,
]) as z.ZodType<ServerMessage>;
export type ServerMessageType = ServerMessage["type"];

/**
 * A `transfer.ready` too big for one Web Push (3,993 bytes of plaintext) arrives as this
 * summary instead: it still names the transfer, its sender and its files; the client fetches
 * the whole Transfer by id (`GET /v1/transfers/{transferId}`) when it needs more.
 */
export const PushSummary = z.object({
  type: z.literal("transfer.ready"),
  id: z.string(),
  transferId: z.string(),
  summary: z.literal(true),
  from: z.object({ id: z.string(), name: z.string() }),
  message: z.string().nullable(),
  /** of a sealed transfer: `names` is empty (its names are opaque); `count` counts seal.age too */
  files: z.object({ count: z.number(), size: z.number(), names: z.array(z.string()) }),
  expiresAt: z.string(),
  /** v1.2: present (true) for a sealed transfer */
  sealed: z.literal(true).optional(),
  /** v1.2: a sealed transfer's `seal.age`, base64 (as in PushedReady), when it fits */
  seal: z.string().optional(),
});
export type PushSummary = z.infer<typeof PushSummary>;

/**
 * v1.2: what a push adds to a sealed transfer's `transfer.ready` (whole, or its PushSummary) when
 * it fits the payload: `seal`, the bytes of its `seal.age` in base64 (RFC 4648 §4, padded), so
 * that a service worker can open it with the device's key and say what came without fetching
 * anything. Absent when it does not fit; never on the live channel (a socket client fetches
 * `seal.age` itself).
 */
export const PushedReady = TransferReadyMessage.extend({ seal: z.string().optional() });
export type PushedReady = z.infer<typeof PushedReady>;

/**
 * v1.2: a `transfer.opened` too big for one Web Push (its Transfer lists every file) arrives as
 * this: the Transfer cut down to its id. The client fetches the Transfer when it needs more.
 */
export const OpenedPushSummary = z.object({
  type: z.literal("transfer.opened"),
  id: z.string(),
  transfer: z.object({ id: z.string() }),
  by: z.string(),
  summary: z.literal(true),
});
export type OpenedPushSummary = z.infer<typeof OpenedPushSummary>;

/**
 * What a push's payload is: a whole message (never a `terminal.key_changed`, which is not
 * pushed; a sealed `transfer.ready` with its `seal` when it fits), or a summary of a large
 * `transfer.ready` or `transfer.opened`.
 */
export type PushPayload =
  | Exclude<ServerMessage, { type: "terminal.key_changed" } | { type: "transfer.ready" }>
  | PushedReady
  | PushSummary
  | OpenedPushSummary;

/**
 * Control frames the server sends that are not queued and need no ack. An error with `close`
 * is the last frame of the socket: the server closes it with that code right after (4001 token
 * rotated, 4004 terminal deleted, 4008 too many sockets). A client may take it as the close
 * itself: some runtimes (workerd under `npm start`) end the connection of a socket that never
 * sent a frame only ~10 s after the close frame, and clients report a close only then.
 */
export type ControlMessage =
  | { type: "pong" }
  | { type: "error"; error: { code: string; message: string }; close?: number };

/** What a client may send on the live channel. A bare "ping" text frame is answered "pong". */
export const ClientMessage = z.discriminatedUnion("type", [
  z.object({ type: z.literal("ack"), id: z.string().min(1).max(200) }),
  z.object({ type: z.literal("ping") }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
