import { z } from "zod";
import {
  MAX_EXPIRES_IN,
  MAX_FILES_CEILING,
  MAX_MESSAGE_LENGTH,
  MAX_RECIPIENTS,
  MIN_EXPIRES_IN,
} from "./limits";
import { TerminalId } from "./common";
import { SEAL_NAME, SEALED_TYPE, sealedFileName, SMALLEST_AGE_FILE } from "./seal";

/**
 * What the server enforces of a sealed transfer (v1.2), so that nothing it keeps is in the
 * clear: no message (it is inside seal.age), files named `1.age … n.age` in order then
 * `seal.age` last, no type but application/octet-stream (a type would say what a file is),
 * and each at least as large as the smallest age file. That the files really are age files
 * sealed to the recipients is for the recipients to check (client/seal refuses a seal that
 * does not describe its transfer); the server cannot, and does not try.
 */
export function sealedShapeIssues(r: {
  message?: string | undefined;
  files: ReadonlyArray<{ name: string; size: number; type?: string | undefined }>;
}): Array<{ path: (string | number)[]; message: string }> {
  const issues: Array<{ path: (string | number)[]; message: string }> = [];
  if (r.message !== undefined) issues.push({ path: ["message"], message: "a sealed transfer's message goes inside seal.age: send message null" });
  const n = r.files.length;
  if (n === 0) issues.push({ path: ["files"], message: `a sealed transfer has at least ${SEAL_NAME}` });
  r.files.forEach((f, i) => {
    const want = i === n - 1 ? SEAL_NAME : sealedFileName(i);
    if (f.name !== want) issues.push({ path: ["files", i, "name"], message: `file ${i} of a sealed transfer must be named ${want}` });
    if (f.type !== undefined && f.type !== SEALED_TYPE)
      issues.push({ path: ["files", i, "type"], message: `a sealed file's type is ${SEALED_TYPE} (or none)` });
    if (f.size < SMALLEST_AGE_FILE) issues.push({ path: ["files", i, "size"], message: `an age file has at least ${SMALLEST_AGE_FILE} bytes` });
  });
  return issues;
}

/** A MIME type as it may appear in Content-Type: type/subtype with optional parameters. */
export const MediaType = z
  .string()
  .max(255)
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(\s*;\s*[A-Za-z0-9!#$&^_.+-]+=("[^"\\\r\n]*"|[A-Za-z0-9!#$&^_.+-]+))*$/,
    "type must be a media type such as text/plain",
  );

export const FileSpec = z.object({
  name: z.string().min(1, "a file needs a name").max(4096),
  size: z.number().int("size must be a whole number of bytes").min(0).max(Number.MAX_SAFE_INTEGER),
  type: MediaType.optional(),
});
export type FileSpec = z.infer<typeof FileSpec>;

/** v1.2: the optional `Idempotency-Key` header of `POST /v1/transfers` (limits.ts, zod-free for the web app). */
export { IDEMPOTENCY_HEADER } from "./limits";
export const IdempotencyKey = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "1 to 64 characters A-Z a-z 0-9 _ -");

/**
 * A transfer: files for one or more recipients, or (contract v1.1) a message alone, with
 * `files: []` (a note, a link, a code to paste).
 */
export const CreateTransferRequest = z.object({
  to: z
    .array(TerminalId)
    .min(1, "name at least one recipient")
    .max(MAX_RECIPIENTS, `at most ${MAX_RECIPIENTS} recipients`),
  // the deployment's limit (LIMIT_FILES_PER_TRANSFER, default MAX_FILES) is checked later: 413
  files: z.array(FileSpec).max(MAX_FILES_CEILING, `at most ${MAX_FILES_CEILING} files`),
  // null (as responses show an absent message) is read as no message
  message: z
    .string()
    .max(MAX_MESSAGE_LENGTH, `message is at most ${MAX_MESSAGE_LENGTH} characters`)
    .nullable()
    .transform((m) => m ?? undefined)
    .optional(),
  expiresIn: z
    .number()
    .int()
    .min(MIN_EXPIRES_IN, `expiresIn is at least ${MIN_EXPIRES_IN} seconds`)
    .max(MAX_EXPIRES_IN, `expiresIn is at most ${MAX_EXPIRES_IN} seconds (7 days)`)
    .optional(),
  maxDownloads: z.number().int().min(1).max(1_000_000).optional(),
  /** v1.2: the files are age files and the message is inside seal.age (see checkSealedShape) */
  sealed: z.boolean().optional(),
}).refine((r) => r.files.length > 0 || (r.message ?? "").trim() !== "", {
  path: ["files"],
  message: "send at least one file, or a message",
}).superRefine((r, ctx) => {
  if (r.sealed) for (const issue of sealedShapeIssues(r)) ctx.addIssue({ code: "custom", ...issue });
});
export type CreateTransferRequest = z.infer<typeof CreateTransferRequest>;

export const TransferStatus = z.enum([
  "uploading",
  "packaging",
  "ready",
  "delivered",
  "expired",
  "cancelled",
  "failed",
]);
export type TransferStatus = z.infer<typeof TransferStatus>;

export const File = z.object({
  index: z.number(),
  name: z.string(),
  size: z.number(),
  type: z.string(),
  received: z.number(),
  partSize: z.number(),
  parts: z.number(),
  partsReceived: z.array(z.number()),
  sha256: z.string().nullable(),
  uploadUrl: z.string(),
  downloadUrl: z.string().nullable(),
});
export type File = z.infer<typeof File>;

export const Recipient = z.object({
  id: z.string(),
  notifiedAt: z.string().nullable(),
  channel: z.enum(["socket", "push"]).nullable(),
  /** v1.2: when the recipient first looked at it (`POST /v1/transfers/{id}/opened`) */
  openedAt: z.string().nullable(),
  downloadedAt: z.string().nullable(),
});
export type Recipient = z.infer<typeof Recipient>;

export const Transfer = z.object({
  id: z.string(),
  status: TransferStatus,
  from: z.object({ id: z.string(), name: z.string() }),
  to: z.array(z.string()),
  message: z.string().nullable(),
  files: z.array(File),
  size: z.number(),
  package: z.object({ size: z.number(), sha256: z.string() }).nullable(),
  createdAt: z.string(),
  expiresAt: z.string(),
  maxDownloads: z.number().nullable(),
  downloads: z.number(),
  downloadUrl: z.string().nullable(),
  failure: z.string().nullable(),
  recipients: z.array(Recipient),
  /** v1.2: its files are age files (`1.age` …, `seal.age`) that only the recipients can open */
  sealed: z.boolean(),
});
export type Transfer = z.infer<typeof Transfer>;
