import {
  MAX_SEAL_BYTES,
  SEAL_NAME,
  SEALED_TYPE,
  sealDocumentProblem,
  sealedFileName,
  type SealDocument,
  type SealedFile,
} from "../../src/contract/seal";
import { cleanName } from "../../src/contract/names";
import { SealError } from "./errors";
import { checkSealedTo, decrypterFor, encrypterFor, keysSaid, type HeaderSeen } from "./stream";
import { paddedSize, recipientsFor, sealedSize, SEAL_PAD_FILES, SEAL_PAD_TEXT } from "./size";
import type { AgeIdentity } from "./keys";

/**
 * `seal.age`: the document that carries what a sealed transfer hides from the server (real
 * names, types, plaintext sizes and SHA-256s, the message) and binds it to the transfer (its
 * id, sender, recipients, each file's index), so that an opener can refuse a seal the server
 * replayed from another transfer or files it swapped.
 */

/** A seal before its transfer exists: everything but the transfer id. */
export type SealDraft = Omit<SealDocument, "pushdrop" | "v" | "transferId">;

/** What of a Transfer (src/contract) the opener checks a seal against. */
export interface SealedTransfer {
  id: string;
  sealed?: boolean;
  from: { id: string };
  to: readonly string[];
  message: string | null;
  files: ReadonlyArray<{ index: number; name: string; size: number }>;
}

const enc = new TextEncoder();
/** Transfer ids are 22 characters (src/contract/ids.ts): a placeholder measures the seal before its id is known. */
const PLACEHOLDER_ID = "A".repeat(22);

function documentOf(draft: SealDraft, transferId: string): SealDocument {
  const doc: SealDocument = {
    pushdrop: "seal",
    v: 1,
    transferId,
    from: draft.from,
    to: [...draft.to].sort(),
    message: draft.message,
    files: draft.files.map((f) => ({ index: f.index, name: f.name, type: f.type, size: f.size, sha256: f.sha256 })),
  };
  const problem = sealDocumentProblem(doc);
  if (problem) throw new SealError("bad_seal", `not a valid seal: ${problem}`);
  return doc;
}

/**
 * The seal's plaintext size (padded), known before the transfer exists: declare
 * `sealedSize(sealPlainSize(draft), recipients)` as `seal.age`'s size when creating it. Only the
 * length of each `sha256` counts here (64 hex digits), so placeholders do before the files are hashed.
 */
export function sealPlainSize(draft: SealDraft): number {
  return paddedSize(enc.encode(JSON.stringify(documentOf(draft, PLACEHOLDER_ID))).length, padFor(draft));
}

/** A text alone pads to ≥ 4 KiB, a seal of files to ≥ 1 KiB (see SEAL_PAD_FILES). */
const padFor = (draft: SealDraft) => (draft.files.length === 0 ? SEAL_PAD_TEXT : SEAL_PAD_FILES);

/** The seal's plaintext: its JSON, then spaces up to the next power of two ≥ 1 KiB (≥ 4 KiB for a text alone). */
export function encodeSeal(draft: SealDraft, transferId: string): Uint8Array {
  const json = enc.encode(JSON.stringify(documentOf(draft, transferId)));
  const out = new Uint8Array(paddedSize(json.length, padFor(draft))).fill(0x20);
  out.set(json);
  return out;
}

/** Parses a seal's plaintext (padding and all); a SealError `bad_seal` when it is not one. */
export function decodeSeal(plain: Uint8Array): SealDocument {
  if (plain.length > MAX_SEAL_BYTES) throw new SealError("bad_seal", "the seal is too large");
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    throw new SealError("bad_seal", "the seal is not JSON");
  }
  const problem = sealDocumentProblem(value);
  if (problem) throw new SealError("bad_seal", `not a seal document: ${problem}`);
  // the contract's name rule holds for decrypted names too (the server cleans a plain transfer's
  // names, but never sees these): nothing invisible or reordering reaches a screen or a disk
  // ("evil\u202etxt.exe" is "eviltxt.exe", not a name that shows as "evilexe.txt")
  const doc = value as SealDocument;
  return { ...doc, files: doc.files.map((f) => ({ ...f, name: cleanName(f.name) })) };
}

/** `seal.age` itself: the padded document encrypted to the recipients (a few KiB: bytes, not a stream). */
export async function sealDocument(draft: SealDraft, transferId: string, recipients: readonly string[]): Promise<Uint8Array> {
  return encrypterFor(recipients).encrypt(encodeSeal(draft, transferId));
}

/**
 * Decrypts `seal.age` with this device's identities, then checks it describes `transfer`
 * (checkSeal). Throws age's error when no identity opens it, SealError when it does not match.
 */
export async function openSeal(
  sealed: Uint8Array | ReadableStream<Uint8Array>,
  identities: readonly AgeIdentity[],
  transfer: SealedTransfer,
): Promise<SealDocument> {
  const seen: HeaderSeen = { stanzas: null };
  const d = decrypterFor(identities, seen);
  let plain: Uint8Array;
  if (sealed instanceof Uint8Array) {
    plain = await d.decrypt(sealed);
  } else {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of (await d.decrypt(sealed)) as unknown as AsyncIterable<Uint8Array>) {
      n += c.length;
      if (n > MAX_SEAL_BYTES) throw new SealError("bad_seal", "the seal is too large");
      chunks.push(c);
    }
    plain = new Uint8Array(n);
    let at = 0;
    for (const c of chunks) (plain.set(c, at), (at += c.length));
  }
  const doc = decodeSeal(plain);
  checkSeal(doc, transfer, plain.length);
  // its header: sealed to the recipients it names (X25519 keys, one each), and nobody else
  checkSealedTo(seen, sealKeyCounts(doc), SEAL_NAME);
  return doc;
}

/**
 * Refuses (SealError `seal_mismatch`) a seal that does not describe this transfer: another
 * transfer's id, sender or recipients, a message or file the server shows in the clear, files
 * not named `1.age … n.age` then `seal.age`, or an age file whose size is not its plaintext's
 * sealed to one X25519 key per recipient the seal names (no fewer, and no more than the sender's
 * own besides: sealKeyCounts), as seal.age itself must be. `sealPlainBytes`: the seal's decrypted size.
 */
export function checkSeal(doc: SealDocument, transfer: SealedTransfer, sealPlainBytes?: number): void {
  const fail = (why: string): never => {
    throw new SealError("seal_mismatch", `this seal does not belong to transfer ${transfer.id}: ${why}`);
  };
  if (transfer.sealed === false) fail("the transfer is not sealed");
  if (doc.transferId !== transfer.id) fail(`it was made for transfer ${doc.transferId}`);
  if (doc.from !== transfer.from.id) fail("it names another sender");
  const to = [...new Set(transfer.to)].sort();
  if (doc.to.length !== to.length || doc.to.some((id, i) => id !== to[i])) fail("it names other recipients");
  if (transfer.message !== null) fail("the transfer carries a message in the clear");
  const files = transfer.files;
  if (files.length !== doc.files.length + 1) fail(`it lists ${doc.files.length} files, the transfer has ${files.length - 1}`);
  const last = files[files.length - 1]!;
  if (last.name !== SEAL_NAME || last.index !== files.length - 1) fail(`the transfer's last file is not ${SEAL_NAME}`);
  // every age file is sealed to one X25519 key per recipient the seal names (and the transfer
  // has), and at most the sender's own besides: its size says how many (86 + 98·r + …); another
  // key would be someone else reading along, one fewer a recipient left out
  const allowed = sealKeyCounts(doc);
  let r = sealPlainBytes === undefined ? null : recipientsFor(last.size, sealPlainBytes);
  if (sealPlainBytes !== undefined && r === null) fail(`${SEAL_NAME} has the wrong size`);
  if (r !== null && !allowed.includes(r)) fail(`${SEAL_NAME} is sealed to ${r} keys, ${keysSaid(allowed)}`);
  doc.files.forEach((f: SealedFile, k) => {
    const t = files[k]!;
    if (f.index !== k || t.index !== k || t.name !== sealedFileName(k)) fail(`file ${k} is not ${sealedFileName(k)}`);
    const fr = recipientsFor(t.size, f.size);
    if (fr === null || (r !== null && fr !== r)) fail(`${t.name} is not ${f.size} bytes sealed like the rest`);
    if (!allowed.includes(fr!)) fail(`${t.name} is sealed to ${fr} keys, ${keysSaid(allowed)}`);
    r = fr; // (the files sealed alike, also when seal.age's own size is not known here)
  });
}

/**
 * How many X25519 keys a sealed transfer's files (and seal.age) may be sealed to: one per
 * recipient the seal names; or one more when its sender is not among them, so that the sender
 * can read what it sent (its outbox: it seals to its own key too). Never two more, never fewer.
 */
export function sealKeyCounts(doc: Pick<SealDocument, "from" | "to">): number[] {
  const n = new Set(doc.to).size;
  return doc.to.includes(doc.from) ? [n] : [n, n + 1];
}

/** The declared size of `seal.age` for a draft and a number of recipients. */
export function sealFileSize(draft: SealDraft, recipients: number): number {
  return sealedSize(sealPlainSize(draft), recipients);
}

/**
 * The `files` of `POST /v1/transfers` for a sealed transfer of `draft` to `recipients` X25519
 * recipients: `1.age … n.age` with their sealed sizes, then `seal.age`, all
 * application/octet-stream (what the server requires: src/contract/transfers.ts).
 */
export function sealedFileSpecs(draft: SealDraft, recipients: number): Array<{ name: string; size: number; type: string }> {
  draft.files.forEach((f, k) => {
    if (f.index !== k) throw new SealError("bad_seal", `the seal's file ${k} has index ${f.index}`);
  });
  return [
    ...draft.files.map((f, k) => ({ name: sealedFileName(k), size: sealedSize(f.size, recipients), type: SEALED_TYPE })),
    { name: SEAL_NAME, size: sealFileSize(draft, recipients), type: SEALED_TYPE },
  ];
}
