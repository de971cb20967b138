import { MAX_FILES_CEILING, MAX_MESSAGE_LENGTH, MAX_RECIPIENTS } from "./limits";
import { TRANSFER_ID_RE } from "./ids";

/**
 * v1.2 sealed transfers: what the server sees, and `seal.age`, the document only the
 * recipients can read (client/seal writes and checks it; docs/security.md).
 *
 * A sealed transfer's files are `1.age`, `2.age`, … `n.age` (the sealed files, in order), then
 * `seal.age`, last. A sealed text with no files is `seal.age` alone. Its message is null.
 *
 * No zod here: client/seal (a lazy chunk of the web app) parses seal documents with
 * parseSealDocument, and zod would triple that chunk's size.
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

export interface SealedFile {
  /** the file's index in the transfer (its age file is `${index + 1}.age`) */
  index: number;
  /** the real name, as the sender's client had it (1..4096 characters; a receiver applies its safe-name rules) */
  name: string;
  /** ≤ 255 characters */
  type: string;
  /** plaintext bytes */
  size: number;
  /** plaintext SHA-256, 64 lowercase hex digits */
  sha256: string;
}

/**
 * `seal.age`'s plaintext: this JSON, UTF-8, followed by spaces up to the next power of two ≥ 1 KiB
 * for a seal of files, ≥ 4 KiB for a text alone (client/seal/size.ts: SEAL_PAD_FILES, SEAL_PAD_TEXT;
 * so its size says little about the names and the message; JSON ignores the spaces).
 */
export interface SealDocument {
  pushdrop: "seal";
  v: 1;
  transferId: string;
  /** the sender's terminal id */
  from: string;
  /** the recipients' terminal ids, sorted */
  to: string[];
  message: string | null;
  files: SealedFile[];
}

const TERMINAL_DIGITS = /^\d{9}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const hasExactly = (o: Record<string, unknown>, keys: readonly string[]) =>
  Object.keys(o).length === keys.length && keys.every((k) => Object.hasOwn(o, k));
const isCount = (v: unknown, max: number): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isText = (v: unknown, min: number, max: number): v is string => typeof v === "string" && v.length >= min && v.length <= max;

/** Why `value` is not a seal document (the first reason found), or null when it is one. */
export function sealDocumentProblem(value: unknown): string | null {
  if (!isObject(value)) return "not an object";
  if (!hasExactly(value, ["pushdrop", "v", "transferId", "from", "to", "message", "files"])) return "unexpected or missing fields";
  if (value.pushdrop !== "seal" || value.v !== 1) return "not a version 1 seal";
  if (typeof value.transferId !== "string" || !TRANSFER_ID_RE.test(value.transferId)) return "transferId is not a transfer id";
  if (typeof value.from !== "string" || !TERMINAL_DIGITS.test(value.from)) return "from is not a terminal id";
  const to = value.to;
  if (!Array.isArray(to) || to.length < 1 || to.length > MAX_RECIPIENTS) return `to must list 1..${MAX_RECIPIENTS} recipients`;
  if (!to.every((id) => typeof id === "string" && TERMINAL_DIGITS.test(id))) return "to holds something other than terminal ids";
  if (value.message !== null && !isText(value.message, 0, MAX_MESSAGE_LENGTH)) return `message must be null or ≤ ${MAX_MESSAGE_LENGTH} characters`;
  const files = value.files;
  if (!Array.isArray(files) || files.length > MAX_FILES_CEILING) return `files must be a list of ≤ ${MAX_FILES_CEILING}`;
  for (const [i, f] of files.entries()) {
    if (!isObject(f) || !hasExactly(f, ["index", "name", "type", "size", "sha256"])) return `files[${i}] has unexpected or missing fields`;
    if (!isCount(f.index, MAX_FILES_CEILING)) return `files[${i}].index is not an index`;
    if (!isText(f.name, 1, 4096)) return `files[${i}].name must be 1..4096 characters`;
    if (!isText(f.type, 0, 255)) return `files[${i}].type must be ≤ 255 characters`;
    if (!isCount(f.size, Number.MAX_SAFE_INTEGER)) return `files[${i}].size is not a size`;
    if (typeof f.sha256 !== "string" || !SHA256_HEX.test(f.sha256)) return `files[${i}].sha256 must be 64 lowercase hex digits`;
  }
  return null;
}
