/**
 * The service's limits and quotas, each a `[vars]` value in wrangler.toml (so an operator
 * tunes them without a code change; `npm start` passes the environment variables of the same
 * names through). A missing, empty or unusable value falls back to the default here.
 */

import { MAX_FILES } from "../contract";
import { GiB } from "../config";

export const LIMIT_DEFAULTS = {
  /** largest file, in bytes (the format allows 156.25 GiB: MAX_PACKAGE_BYTES) */
  LIMIT_FILE_BYTES: 20 * GiB,
  /** largest transfer (all its files), in bytes */
  LIMIT_TRANSFER_BYTES: 50 * GiB,
  /** files in one transfer (by default what the contract's v1 schema allows) */
  LIMIT_FILES_PER_TRANSFER: MAX_FILES,
  /** bytes of transfers waiting for one recipient (not downloaded, not ended): a stranger cannot fill an inbox */
  LIMIT_PENDING_BYTES_PER_RECIPIENT: 50 * GiB,
  /**
   * bytes one sender may have declared, in transfers not yet done, for one recipient: its share
   * of that inbox. 20 GiB: the largest file (LIMIT_FILE_BYTES) still fits, and it takes three
   * senders uploading for real to fill a 50 GiB inbox, which the recipient ends by blocking them
   */
  LIMIT_PENDING_BYTES_PER_SENDER: 20 * GiB,
  /** transfers one terminal may create in any hour */
  LIMIT_TRANSFERS_PER_SENDER_HOUR: 200,
  /** terminals one client address may register per hour */
  LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR: 30,
  /** API requests per minute by one terminal (its token) */
  LIMIT_REQUESTS_PER_TERMINAL_MINUTE: 600,
  /** API requests per minute from one client address without a valid token (lookups, signed-link downloads, registration) */
  LIMIT_REQUESTS_PER_ADDRESS_MINUTE: 300,
} as const;

export type LimitName = keyof typeof LIMIT_DEFAULTS;
export type Limits = Record<LimitName, number>;

export const LIMIT_NAMES = Object.keys(LIMIT_DEFAULTS) as LimitName[];

/** The limits in force: each var parsed as a positive integer, else its default. */
export function limitsOf(env: Partial<Record<LimitName, unknown>>): Limits {
  const out = { ...LIMIT_DEFAULTS } as Limits;
  for (const name of LIMIT_NAMES) {
    const raw = env[name];
    const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\s*\d{1,16}\s*$/.test(raw) ? Number(raw) : NaN;
    if (Number.isSafeInteger(n) && n > 0) out[name] = n;
  }
  return out;
}
