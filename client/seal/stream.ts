import { Decrypter, Encrypter } from "age-encryption";
import { SealError } from "./errors";
import { isRecipient, type AgeIdentity } from "./keys";
import { sha256Hasher, type Sha256 } from "./sha256";

/**
 * Sealing and opening files as streams: the bytes go through `age-encryption` chunk by chunk
 * (64 KiB), never whole in memory. The plaintext's SHA-256 is computed on the way.
 */

/** An Encrypter for these recipients: each must be an age X25519 recipient, none twice. */
export function encrypterFor(recipients: readonly string[]): Encrypter {
  if (recipients.length === 0) throw new SealError("bad_recipient", "seal to at least one recipient");
  if (new Set(recipients).size !== recipients.length) throw new SealError("bad_recipient", "a recipient is listed twice");
  const e = new Encrypter();
  for (const r of recipients) {
    if (!isRecipient(r)) throw new SealError("bad_recipient", `not an age X25519 recipient: ${String(r).slice(0, 80)}`);
    e.addRecipient(r);
  }
  return e;
}

/** What an age file's header showed, once it was read: the type of each stanza (`X25519`, …), in order. */
export interface HeaderSeen {
  stanzas: string[] | null;
}

/**
 * A Decrypter for these identities. With `seen`, it also notes the header's stanzas: age asks
 * every identity in turn to unwrap the file key from them, and a watcher asked first (which
 * unwraps nothing) sees the very header age goes on to check the MAC of.
 */
export function decrypterFor(identities: readonly AgeIdentity[], seen?: HeaderSeen): Decrypter {
  const d = new Decrypter();
  if (seen) {
    d.addIdentity({
      unwrapFileKey(stanzas: Array<{ args: string[] }>) {
        seen.stanzas = stanzas.map((st) => st.args[0] ?? "");
        return null;
      },
    } as unknown as Parameters<Decrypter["addIdentity"]>[0]);
  }
  for (const i of identities) d.addIdentity(i);
  return d;
}

/**
 * Refuses (SealError `seal_mismatch`) an age file whose header holds anything but X25519
 * stanzas, or (when `keys` is given) a number of them that `keys` does not allow: a file of a
 * sealed transfer is sealed to its recipients' keys (sealKeyCounts) and to nobody else's.
 */
export function checkSealedTo(seen: HeaderSeen, keys: number | readonly number[] | undefined, what: string): void {
  const types = seen.stanzas ?? [];
  const other = types.find((t) => t !== "X25519");
  if (other !== undefined) throw new SealError("seal_mismatch", `${what} is sealed to a key that is not an X25519 key (${other.slice(0, 40)})`);
  if (keys === undefined) return;
  const allowed = typeof keys === "number" ? [keys] : keys;
  if (!allowed.includes(types.length)) throw new SealError("seal_mismatch", `${what} is sealed to ${types.length} key${types.length === 1 ? "" : "s"}, ${keysSaid(allowed)}`);
}

/** "the seal names 2 recipients" (and, where one more is allowed, the sender's own copy). */
export function keysSaid(allowed: readonly number[]): string {
  const n = Math.min(...allowed);
  return `the seal names ${n} recipient${n === 1 ? "" : "s"}${allowed.length > 1 ? " (and allows one key more: the sender's own)" : ""}`;
}

/** What hashing a stream on its way through finds at its end. */
export interface Digest {
  sha256: string;
  size: number;
}

/**
 * A pass-through stream that hashes what goes through it; `digest` resolves when the stream
 * ends (read it after the stream: one that fails or is cancelled never ends).
 */
export function hashing(): { stream: TransformStream<Uint8Array, Uint8Array>; digest: Promise<Digest> } {
  let h: Sha256;
  let size = 0;
  let done!: (d: Digest) => void;
  const digest = new Promise<Digest>((res) => (done = res));
  const stream = new TransformStream<Uint8Array, Uint8Array>({
    async start() {
      h = await sha256Hasher();
    },
    transform(chunk, c) {
      h.update(chunk);
      size += chunk.length;
      c.enqueue(chunk);
    },
    flush() {
      done({ sha256: h.hex(), size });
    },
  });
  return { stream, digest };
}

export interface Sealed {
  /** the age file */
  stream: ReadableStream<Uint8Array>;
  /** the plaintext's SHA-256 (hex) and size, once the stream has been read to its end */
  digest: Promise<Digest>;
}

/**
 * Seals a file: plaintext stream in, age file out (encrypted for every recipient, each of which
 * must be an X25519 `age1…`). Its size is `sealedSize(plaintext bytes, recipients.length)`.
 */
export async function sealStream(plain: ReadableStream<Uint8Array>, recipients: readonly string[]): Promise<Sealed> {
  const e = encrypterFor(recipients);
  const { stream: hasher, digest } = hashing();
  const stream = await e.encrypt(plain.pipeThrough(hasher));
  return { stream, digest };
}

/** What the seal says about a file, checked while it is opened. */
export interface Expected {
  /** the age file's size (the transfer's file size): checked against `size` before any byte is read */
  sealedSize?: number;
  /** plaintext bytes */
  size: number;
  /** plaintext SHA-256, hex */
  sha256: string;
  /** how many X25519 stanzas the header may hold (sealKeyCounts of the seal): one of these */
  recipients?: number | readonly number[];
}

/**
 * Opens an age file: ciphertext stream in, plaintext out. age itself fails the stream on any
 * changed or cut byte. With `expected`, the stream also fails at its end (before it closes) if
 * the plaintext's size or SHA-256 is not the seal's, so a consumer that commits the file only
 * when the stream closes never keeps a file the sender did not seal. With `expected`, the header
 * must hold X25519 stanzas only, and as many as `expected.recipients` allows when that is given.
 */
export async function openStream(
  sealed: ReadableStream<Uint8Array>,
  identities: readonly AgeIdentity[],
  expected?: Expected,
): Promise<ReadableStream<Uint8Array>> {
  const seen: HeaderSeen = { stanzas: null };
  const out = await decrypterFor(identities, seen).decrypt(sealed);
  if (!expected) return out;
  // a file of a sealed transfer is sealed to X25519 keys only (then its size counts them), and
  // to as many as the seal allows
  try {
    checkSealedTo(seen, expected.recipients, "the file");
  } catch (e) {
    await out.cancel().catch(() => {});
    throw e;
  }
  if (expected.sealedSize !== undefined) {
    let plain: number;
    try {
      plain = out.size(expected.sealedSize);
    } catch {
      plain = -1;
    }
    if (plain !== expected.size) {
      await out.cancel().catch(() => {});
      throw new SealError("size_mismatch", `the file holds ${plain} bytes, the seal says ${expected.size}`);
    }
  }
  const h = await sha256Hasher();
  let size = 0;
  return out.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        size += chunk.length;
        if (size > expected.size) throw new SealError("size_mismatch", `the file is longer than the seal's ${expected.size} bytes`);
        h.update(chunk);
        c.enqueue(chunk);
      },
      flush() {
        if (size !== expected.size) throw new SealError("size_mismatch", `the file has ${size} bytes, the seal says ${expected.size}`);
        if (h.hex() !== expected.sha256.toLowerCase())
          throw new SealError("checksum_mismatch", "the file's SHA-256 is not the one in the seal");
      },
    }),
  );
}
