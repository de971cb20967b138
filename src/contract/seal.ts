import { z } from "zod";
import { MAX_FILES_CEILING, MAX_MESSAGE_LENGTH, MAX_RECIPIENTS } from "./limits";
import { TRANSFER_ID_RE } from "./ids";

/**
 * v1.2 sealed transfers: what the server sees, and `seal.age`, the document only the
 * recipients can read (client/seal writes and checks it; docs/security.md).
 *
 * A sealed transfer's files are `1.age`, `2.age`, … `n.age` (the sealed files, in order), then
 * `seal.age`, last. A sealed text with no files is `seal.age` alone. Its message is null.
 */
export const SEAL_NAME = "seal.age";
/** The name of the sealed file at transfer index `index` (0-based): `1.age` for index 0. */
export const sealedFileName = (index: number) => `${index + 1}.age`;
/** Sealed files go up as opaque bytes: no other type is accepted (a type would say what they are). */
export const SEALED_TYPE = "application/octet-stream";
/** The smallest age file: an empty one sealed to one X25519 recipient (86 + 98 + 16 bytes). */
export const SMALLEST_AGE_FILE = 200;
/** A seal document's plaintext is at most this many bytes (padded): an opener refuses a larger one. */
export const MAX_SEAL_BYTES = 64 * 1024 * 1024;

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex digits");

export const SealedFile = z.strictObject({
  /** the file's index in the transfer (its age file is `${index + 1}.age`) */
  index: z.number().int().min(0).max(MAX_FILES_CEILING),
  /** the real name, as the sender's client had it (a receiver applies its safe-name rules) */
  name: z.string().min(1).max(4096),
  type: z.string().max(255),
  /** plaintext bytes */
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256: Sha256Hex,
});
export type SealedFile = z.infer<typeof SealedFile>;

/**
 * `seal.age`'s plaintext: this JSON, UTF-8, followed by spaces up to the next power of two ≥ 4 KiB
 * (so its size says little about the names and the message; JSON ignores the spaces).
 */
export const SealDocument = z.strictObject({
  pushdrop: z.literal("seal"),
  v: z.literal(1),
  transferId: z.string().regex(TRANSFER_ID_RE),
  /** the sender's terminal id */
  from: z.string().regex(/^\d{9}$/),
  /** the recipients' terminal ids, sorted */
  to: z.array(z.string().regex(/^\d{9}$/)).min(1).max(MAX_RECIPIENTS),
  message: z.string().max(MAX_MESSAGE_LENGTH).nullable(),
  files: z.array(SealedFile).max(MAX_FILES_CEILING),
});
export type SealDocument = z.infer<typeof SealDocument>;
