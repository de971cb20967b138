import { z } from "zod";
import { AGE_RECIPIENT_RE } from "./ids";
import { MAX_TERMINAL_NAME } from "./limits";
import { cleanName } from "./names";

/** A terminal's name as people type it: cleaned by the one name rule (./names.ts), trimmed, ≤ 64 characters. */
export const TerminalName = z
  .string()
  .transform((s) => cleanName(s).trim())
  .pipe(z.string().max(MAX_TERMINAL_NAME, `name is at most ${MAX_TERMINAL_NAME} characters`));

export const CreateTerminalRequest = z.object({ name: TerminalName.optional() });
export type CreateTerminalRequest = z.infer<typeof CreateTerminalRequest>;

export const CreatedTerminal = z.object({
  id: z.string(),
  name: z.string(),
  token: z.string(),
  display: z.string(),
  createdAt: z.string(),
});
export type CreatedTerminal = z.infer<typeof CreatedTerminal>;

/** v1.2: an age X25519 recipient (AGE_RECIPIENT_RE, in ids.ts: client/seal reads it without zod). */
export const AgeRecipient = z
  .string()
  .max(200)
  .regex(AGE_RECIPIENT_RE, "key must be an age X25519 recipient (age1…, 62 characters, lowercase)");

/** `PUT /v1/terminals/{id}/key` (v1.2). */
export const SetKeyRequest = z.strictObject({ key: AgeRecipient });
export type SetKeyRequest = z.infer<typeof SetKeyRequest>;

export const TerminalInfo = z.object({
  id: z.string(),
  name: z.string(),
  push: z.boolean(),
  /** v1.2: the terminal's age recipient (`age1…`), or null when it has published none */
  key: z.string().nullable(),
});
export type TerminalInfo = z.infer<typeof TerminalInfo>;

/** A browser's PushSubscriptionJSON (RFC 8030 endpoint + RFC 8291 keys). */
export const PushSubscriptionJSON = z.object({
  endpoint: z
    .string()
    .max(2048)
    .url("endpoint must be an absolute URL")
    .refine((u) => /^https:\/\//i.test(u), "endpoint must be an https URL"),
  expirationTime: z.number().nullable().optional(),
  keys: z.object({
    p256dh: z
      .string()
      .regex(/^[A-Za-z0-9_-]+={0,2}$/, "keys.p256dh must be base64url")
      .refine((s) => b64len(s) === 65, "keys.p256dh must be a 65-byte uncompressed P-256 point")
      .refine((s) => s.startsWith("B"), "keys.p256dh must be an uncompressed point (0x04 ...)"),
    auth: z
      .string()
      .regex(/^[A-Za-z0-9_-]+={0,2}$/, "keys.auth must be base64url")
      .refine((s) => b64len(s) === 16, "keys.auth must be 16 bytes"),
  }),
});
export type PushSubscriptionJSON = z.infer<typeof PushSubscriptionJSON>;

function b64len(s: string): number {
  const n = s.replace(/=+$/, "").length;
  return Math.floor((n * 3) / 4);
}

// ---- managing a terminal (contract v1.1) ----------------------------------------------------

/** `POST /v1/terminals/{id}/token`: the new token (the old one stopped working). */
export const RotatedToken = z.object({ token: z.string() });
export type RotatedToken = z.infer<typeof RotatedToken>;

/** Whom a terminal takes transfers from: anyone not blocked, or only its contacts. */
export const Accept = z.enum(["anyone", "known"]);
export type Accept = z.infer<typeof Accept>;

export const TerminalRef = z.object({ id: z.string(), name: z.string() });
export type TerminalRef = z.infer<typeof TerminalRef>;

/**
 * What waits for a terminal (v1.2, only it sees this): bytes received for it in transfers it
 * has not downloaded that have not ended, and how many of those bytes are in transfers still
 * uploading (which its inbox does not list yet).
 */
export const Waiting = z.object({ bytes: z.number(), uploading: z.number() });
export type Waiting = z.infer<typeof Waiting>;

/** `GET`/`PATCH /v1/terminals/{id}/settings`. */
export const TerminalSettings = z.object({
  name: z.string(),
  accept: Accept,
  contacts: z.array(TerminalRef),
  blocked: z.array(TerminalRef),
  waiting: Waiting,
});
export type TerminalSettings = z.infer<typeof TerminalSettings>;

export const UpdateSettingsRequest = z.strictObject({
  name: TerminalName.optional(),
  accept: Accept.optional(),
});
export type UpdateSettingsRequest = z.infer<typeof UpdateSettingsRequest>;
