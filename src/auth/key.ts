import { bech32 } from "@scure/base";
import { AGE_RECIPIENT_RE } from "../contract";
import { badRequest, notFound } from "../errors";
import { enqueueKeyAnnouncement } from "../package/jobs";
import { setAgeKey, type TerminalRow } from "../store/terminals";

/**
 * A terminal's age key (contract v1.2, sealed transfers): the public half of the identity its
 * device made. The server only stores and shows it; it never sees an identity.
 */

/**
 * Whether `key` is an age X25519 recipient: `age1` and bech32 (BIP 173, checked by @scure/base)
 * of exactly 32 bytes, lowercase. Post-quantum (`age1pq1…`), tag and plugin recipients are not.
 */
export function isAgeX25519Recipient(key: string): boolean {
  if (!AGE_RECIPIENT_RE.test(key)) return false;
  const decoded = bech32.decodeUnsafe(key);
  if (!decoded || decoded.prefix !== "age") return false;
  return bech32.fromWordsUnsafe(decoded.words)?.length === 32;
}

/**
 * Whether X25519 agreement with the key's 32 bytes gives a secret. A low-order point (there are a
 * handful; Debian's `age -r` says "bad input point: low order point") gives every party the same
 * all-zero secret, so nothing sealed to it would be secret, and every client's sealing fails on it:
 * WebCrypto refuses to agree with it (deriveBits fails), which is the check.
 */
export async function agreesWith(key: string): Promise<boolean> {
  const decoded = bech32.decodeUnsafe(key);
  const raw = decoded && bech32.fromWordsUnsafe(decoded.words);
  if (!raw || raw.length !== 32) return false;
  try {
    const theirs = await crypto.subtle.importKey("raw", raw, { name: "X25519" }, false, []);
    const mine = (await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"])) as CryptoKeyPair;
    // (`public`, as WebCrypto names it; workers-types spells the field `$public`)
    await crypto.subtle.deriveBits({ name: "X25519", public: theirs } as unknown as SubtleCryptoDeriveKeyAlgorithm, mine.privateKey, 256);
    return true;
  } catch {
    return false;
  }
}

/**
 * `PUT /v1/terminals/{id}/key`: publishes or replaces the caller's key. A new key is announced
 * (`terminal.key_changed`) to every terminal that has the caller among its contacts and to the
 * caller itself (its other sessions); setting the same key again changes and announces nothing.
 */
export async function publishKey(env: Env, caller: TerminalRow, key: string): Promise<TerminalRow> {
  if (!isAgeX25519Recipient(key)) {
    const message = "key must be an age X25519 recipient (age1…): its bech32 checksum or its length is wrong";
    throw badRequest("invalid_request", `key: ${message}`, { issues: [{ path: "key", message }] });
  }
  if (!(await agreesWith(key))) {
    const message = "key is a low-order X25519 point: nothing sealed to it would be secret";
    throw badRequest("invalid_request", `key: ${message}`, { issues: [{ path: "key", message }] });
  }
  const set = await setAgeKey(env.DB, caller.id, key);
  if (!set) throw notFound("terminal_not_found", "This terminal was deleted.");
  // announced through the jobs queue (notifyKeyChanged, src/notify/producers.ts), not here: this request costs the same however many hold the caller as a contact
  if (set.changed) await enqueueKeyAnnouncement(env, caller.id, set.gen);
  return { ...caller, age_key: key, age_key_gen: set.gen };
}
