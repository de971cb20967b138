import type { PushdropClient } from "../../client";
import { currentIdentity, saveIdentity, type StoredIdentity } from "../shared/keystore";

/**
 * This device's key (issue 23, "Keys"): made on the device the first time it is needed (a new
 * device's first visit, or a device from before sealed transfers), kept in IndexedDB
 * (web/shared/keystore.ts), published with `PUT /v1/terminals/{id}/key`, and checked against what
 * the server publishes on every visit: a different key there means someone with this device's
 * token replaced it, and nothing sealed to it could be opened here.
 *
 * This module is a lazy chunk: the age library (client/seal) is imported only when a key has to be
 * made; a visit whose key exists costs one IndexedDB read and one `GET /v1/terminals/{id}`.
 */
export type KeyState =
  /** the server publishes this device's key */
  | { kind: "ok"; key: StoredIdentity }
  /** the server publishes another key (or none after we published ours): a stolen token may have replaced it */
  | { kind: "foreign"; key: StoredIdentity; published: string | null }
  /** this browser cannot keep a key (no IndexedDB: some private modes): sealed transfers cannot be opened here */
  | { kind: "no_storage" }
  /** the server could not be asked (offline): the key is kept, the check waits for the next visit */
  | { kind: "unchecked"; key: StoredIdentity };

export async function ensureDeviceKey(client: PushdropClient, terminalId: string): Promise<KeyState> {
  let key: StoredIdentity | null;
  try {
    key = await currentIdentity(terminalId);
  } catch {
    return { kind: "no_storage" };
  }
  if (!key) {
    key = await newKey(terminalId);
    try {
      await saveIdentity(key);
    } catch {
      return { kind: "no_storage" };
    }
  }
  let published: string | null;
  try {
    published = (await client.lookup(terminalId)).key ?? null;
    // a new key, or a device whose key the server does not have yet (never published, or lost
    // on the way): publish ours. A DIFFERENT key there is never overwritten silently: the
    // device screen says so and offers *New key*.
    if (published === null) published = (await client.publishKey(terminalId, key.recipient)).key ?? null;
  } catch {
    return { kind: "unchecked", key };
  }
  return seen(key, published);
}

/** Makes a new key (*New key*): the old one is kept to open what was already sealed to it. */
export async function rotateDeviceKey(client: PushdropClient, terminalId: string): Promise<KeyState> {
  const key = await newKey(terminalId);
  await saveIdentity(key);
  try {
    return seen(key, (await client.publishKey(terminalId, key.recipient)).key ?? null);
  } catch {
    return { kind: "unchecked", key };
  }
}

/** A new key made on this device (client/seal, loaded only now), to be stored as its current one. */
async function newKey(terminalId: string): Promise<StoredIdentity> {
  const { generateDeviceIdentity } = await import("../../client/seal");
  const pair = await generateDeviceIdentity();
  return { recipient: pair.recipient, identity: pair.identity as CryptoKey | string, nonExtractable: pair.nonExtractable, terminalId, createdAt: Date.now() };
}

/** What the server publishing `published` means for this device's `key`. */
const seen = (key: StoredIdentity, published: string | null): KeyState => (published === key.recipient ? { kind: "ok", key } : { kind: "foreign", key, published });
