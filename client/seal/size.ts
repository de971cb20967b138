/**
 * Sizes of age files (age-encryption.org/v1, X25519 recipients), known before anything is
 * encrypted, so that a sealed transfer declares its files' exact sizes when it is created.
 *
 * An age file is a header (`age-encryption.org/v1\n`, one 98-byte stanza per X25519
 * recipient, the `--- ` MAC line: 86 bytes besides the stanzas, the 16-byte nonce included)
 * followed by the payload in 64 KiB chunks, each with a 16-byte Poly1305 tag; an empty file
 * still has one (empty) chunk. test/cli/seal.test.ts checks this against the library's output.
 */

export const AGE_CHUNK = 65536;
const HEADER_BASE = 86;
const STANZA_X25519 = 98;
const TAG = 16;

/** Ciphertext bytes for `plain` bytes sealed to `recipients` X25519 recipients. */
export function sealedSize(plain: number, recipients: number): number {
  if (!Number.isSafeInteger(plain) || plain < 0) throw new RangeError("plaintext size must be a whole number ≥ 0");
  if (!Number.isSafeInteger(recipients) || recipients < 1) throw new RangeError("at least one recipient");
  return HEADER_BASE + STANZA_X25519 * recipients + plain + TAG * Math.max(1, Math.ceil(plain / AGE_CHUNK));
}

/**
 * The number of X25519 recipients a ciphertext of `sealed` bytes of `plain` bytes was sealed to,
 * or null when no whole number of recipients gives that size.
 */
export function recipientsFor(sealed: number, plain: number): number | null {
  if (!Number.isSafeInteger(sealed) || !Number.isSafeInteger(plain) || plain < 0) return null;
  const rest = sealed - HEADER_BASE - plain - TAG * Math.max(1, Math.ceil(plain / AGE_CHUNK));
  return rest >= STANZA_X25519 && rest % STANZA_X25519 === 0 ? rest / STANZA_X25519 : null;
}

/**
 * The smallest padded seal: 4 KiB for a text alone (the rule: short and long notes look
 * alike), 1 KiB for a seal of files (names and the message still hide in powers of two, and the
 * seal of a few files, sealed to up to about 15 recipients, fits a Web Push: the service worker
 * can then say "Anna: 2 photos" without fetching anything).
 */
export const SEAL_PAD_TEXT = 4096;
export const SEAL_PAD_FILES = 1024;

/** The padded size of a seal document: the next power of two ≥ `min`. */
export function paddedSize(n: number, min = SEAL_PAD_TEXT): number {
  let size = min;
  while (size < n) size *= 2;
  return size;
}
