import { isRecipient } from "./keys";

/**
 * Whose key to seal to (issue 23, "Trust"): the rules the web app and the CLI share, as pure
 * functions over what the device has pinned for a contact, what the server publishes now
 * (`GET /v1/terminals/{id}` → `key`) and, when the contact was reached through a share link or
 * a scanned QR code, the key that link carried in its fragment (`/?to=<id>#k=age1…`).
 *
 * - A key is pinned on first use, or from a link; a scanned QR code (or a safety number
 *   compared) makes it *verified*.
 * - A link key that differs from what the server publishes is refused.
 * - A published key that differs from the pinned one, or none (`key: null`), is a key change:
 *   nothing is sealed to it (and nothing is sent plain instead) until the person confirms it;
 *   for a verified contact, until it is verified again.
 * - A link key that differs from the pinned one is a key change too, never a re-pin.
 * - A refused link key, kept by the device (`refused`), is evidence that the published key may
 *   not be the contact's: while nothing is pinned, the published key is not trusted on first
 *   use (link_refused) until a safety number compared pins it, or a link (or the server) agrees
 *   on one key.
 */

export interface Pin {
  /** the contact's recipient, `age1…` */
  key: string;
  /** compared with a scanned QR code or a safety number, since it was pinned */
  verified: boolean;
}

export interface TrustInput {
  /** what this device pinned for the contact, if anything */
  pinned?: Pin | null;
  /** what the server publishes for it now */
  published: string | null;
  /** the key a share link or QR code carried, if it was reached that way */
  link?: { key: string; scanned: boolean } | null;
  /** a key a link or QR code carried for it earlier that was refused, kept on this device (no pin wins over it; a pin replaces it) */
  refused?: string | null;
}

export type TrustDecision =
  /** seal to `pin.key`; store `pin` (it may be new, or newly verified) */
  | { kind: "seal"; pin: Pin }
  /** no key pinned and none published: this contact can only get plain transfers */
  | { kind: "no_key" }
  /**
   * the key is not the pinned one: seal nothing until the person accepts `published`
   * (acceptKey); `reverify`: the pinned key was verified, so accepting takes a new verification
   */
  | { kind: "key_changed"; pinned: string; published: string | null; reverify: boolean }
  /**
   * the link's key is malformed or not what the server publishes: refused; without a link, the
   * kept `refused` link key differs from the key the server publishes and nothing is pinned:
   * nothing is sealed until that key is verified (a safety number compared) or a link carries it
   * (none published: no_key, as for any contact without a key)
   */
  | { kind: "link_refused"; link: string; published: string | null }
  /** the server publishes something that is not an X25519 recipient: refused */
  | { kind: "bad_key"; published: string };

export function decideTrust({ pinned, published, link, refused }: TrustInput): TrustDecision {
  if (published !== null && !isRecipient(published)) return { kind: "bad_key", published };
  if (link) {
    if (!isRecipient(link.key) || link.key !== published) return { kind: "link_refused", link: link.key, published };
    if (pinned && pinned.key !== link.key) return { kind: "key_changed", pinned: pinned.key, published, reverify: pinned.verified };
    return { kind: "seal", pin: { key: link.key, verified: (pinned?.verified ?? false) || link.scanned } };
  }
  if (pinned) {
    if (published === pinned.key) return { kind: "seal", pin: pinned };
    return { kind: "key_changed", pinned: pinned.key, published, reverify: pinned.verified };
  }
  if (refused && published !== null && refused !== published) return { kind: "link_refused", link: refused, published };
  if (published === null) return { kind: "no_key" };
  return { kind: "seal", pin: { key: published, verified: false } };
}

/**
 * The pin after the person accepted a changed key (`decision` a key_changed with a published
 * key): unverified, whether or not the old one was. A verified contact's change needs
 * `verifiedNow` (a scanned QR code or a safety number compared for the new key); without it
 * this returns null and nothing may be sealed.
 */
export function acceptKey(decision: Extract<TrustDecision, { kind: "key_changed" }>, verifiedNow = false): Pin | null {
  if (decision.published === null) return null;
  if (decision.reverify && !verifiedNow) return null;
  return { key: decision.published, verified: verifiedNow };
}

/** A share link: `<server>/?to=<id>#k=<age1…>` (the fragment never reaches the server). */
export function shareLink(server: string, terminalId: string, key: string | null): string {
  const base = `${server.replace(/\/+$/, "")}/?to=${encodeURIComponent(terminalId)}`;
  return key ? `${base}#k=${key}` : base;
}

/** The id and key a share link carries (key null when it has none), or null when it is not one. */
export function parseShareLink(link: string): { to: string; key: string | null } | null {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return null;
  }
  const to = url.searchParams.get("to");
  if (!to) return null;
  const key = new URLSearchParams(url.hash.replace(/^#/, "")).get("k");
  return { to, key: key ?? null };
}
