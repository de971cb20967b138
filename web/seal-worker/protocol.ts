import type { Sha256Kind } from "../../client/seal/sha256";
import type { AeadKind } from "./chacha";

/**
 * What web/seal/seal-file.ts and its two workers say to each other (structured clone: a File
 * and a FileSystemDirectoryHandle travel as themselves, no bytes copied). Types only.
 *
 *   page → /seal-encrypt.js  EncryptJob, then maybe { type: "abort" }
 *   page → /seal-hash.js     HashJob, then maybe { type: "abort" }
 *   worker → page            progress (plaintext bytes read so far), then exactly one done or failed
 */

/** Seal `file` with age to `recipients` into the spool file `name` of `dir` (created, or emptied). */
export interface EncryptJob {
  type: "encrypt";
  file: File;
  recipients: string[];
  dir: FileSystemDirectoryHandle;
  name: string;
}

/** SHA-256 of `file`'s bytes. */
export interface HashJob {
  type: "hash";
  file: File;
}

export interface AbortJob {
  type: "abort";
}

export type ToWorker = EncryptJob | HashJob | AbortJob;

export type FromWorker =
  | { type: "progress"; plain: number }
  /** encrypt: `plain` bytes read, `written` bytes of age file in the spool, by which ChaCha20-Poly1305; hash: `plain` bytes hashed to `sha256` (hex), by which SHA-256 */
  | { type: "done"; plain: number; written?: number; sealedWith?: AeadKind; sha256?: string; hashedWith?: Sha256Kind }
  /** the job failed (the encrypt worker has removed its spool file); `name` as the error's (NotReadableError: the file changed or is gone) */
  | { type: "failed"; name: string; message: string; code?: string };

/** A progress message at most every this many plaintext bytes. */
export const PROGRESS_EVERY = 1 << 20;
