import { base64url, fromBase64url } from "../contract";
import { badRequest } from "../errors";
import { buildPushPayload, type PushSubscription, type VapidKeys } from "@block65/webcrypto-web-push";

/**
 * Sends one Web Push message (RFC 8030) encrypted per RFC 8291 (aes128gcm) with VAPID
 * (RFC 8292) via @block65/webcrypto-web-push 2.x, and classifies the push service's answer.
 */

export interface StoredSubscription {
  endpoint: string;
  p256dh: string;
  auth: string;
}

export interface PushOptions {
  ttl: number;
  urgency: "very-low" | "low" | "normal" | "high";
  topic?: string;
}

export type PushOutcome =
  | { kind: "sent"; status: number }
  | { kind: "gone"; status: number } // 404/410: the subscription is dead
  | { kind: "retry"; status: number; retryAfterMs: number | null } // 429, 5xx, network
  | { kind: "rejected"; status: number; detail: string }; // other 4xx: retrying will not help

export function vapidKeys(env: Env): VapidKeys | null {
  if (!env.VAPID_PUBLIC_KEY || !env.VAPID_PRIVATE_KEY) return null;
  return { subject: env.VAPID_SUBJECT, publicKey: env.VAPID_PUBLIC_KEY, privateKey: env.VAPID_PRIVATE_KEY };
}

/** Retry-After as milliseconds from `now`: delay-seconds or an HTTP-date; null when absent or malformed. */
export function parseRetryAfter(value: string | null, now: number): number | null {
  const v = value?.trim();
  if (!v) return null;
  if (/^\d{1,9}$/.test(v)) return Number(v) * 1000;
  // an HTTP-date names its day and month ("Wed, 21 Oct 2015 07:28:00 GMT"); anything else
  // ("1.5", "soon") is malformed, not a date V8 happens to guess
  if (!/[A-Za-z]{3}/.test(v)) return null;
  const at = Date.parse(v);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/** A push service that does not answer within this is treated like a network error (retried). */
export const PUSH_TIMEOUT_MS = 15_000;

export async function sendPush(
  sub: StoredSubscription,
  payload: string,
  opts: PushOptions,
  vapid: VapidKeys,
  now = Date.now(),
): Promise<PushOutcome> {
  const subscription: PushSubscription = {
    endpoint: sub.endpoint,
    expirationTime: null,
    keys: { p256dh: sub.p256dh, auth: sub.auth },
  };
  let req: Awaited<ReturnType<typeof buildPushPayload>>;
  try {
    req = await buildPushPayload(
      { data: payload, options: { ttl: Math.max(0, Math.floor(opts.ttl)), topic: opts.topic, urgency: opts.urgency === "very-low" ? "low" : opts.urgency } },
      subscription,
      vapid,
    );
  } catch (e) {
    // the keys or the payload are unusable (a p256dh that is no P-256 point, a payload over
    // the limit): the same request would fail the same way every time, so it is not retried
    return { kind: "rejected", status: 0, detail: `could not build the push: ${String(e).slice(0, 150)}` };
  }
  let res: Response;
  try {
    // redirect: manual: a push service's redirect must not send us to an address it chose
    res = await fetch(sub.endpoint, { method: "POST", headers: req.headers, body: req.body, redirect: "manual", signal: AbortSignal.timeout(PUSH_TIMEOUT_MS) });
  } catch (e) {
    // network error, TLS failure, timeout: the push service may well answer next time
    return { kind: "retry", status: 0, retryAfterMs: null };
  }
  const detail = (await res.text().catch(() => "")).slice(0, 200);
  if (res.status >= 200 && res.status < 300) return { kind: "sent", status: res.status };
  if (res.status === 404 || res.status === 410) return { kind: "gone", status: res.status };
  if (res.status === 429 || res.status >= 500) {
    return { kind: "retry", status: res.status, retryAfterMs: parseRetryAfter(res.headers.get("retry-after"), now) };
  }
  return { kind: "rejected", status: res.status, detail };
}

/** Exponential backoff for push retries: 5 s, 20 s, 80 s, 320 s, capped at 15 min. */
export const backoffMs = (attempt: number) => Math.min(15 * 60_000, 5_000 * 4 ** Math.max(0, attempt - 1));
export const MAX_PUSH_ATTEMPTS = 5;
/** Longest Retry-After honoured as given; a longer one is capped (the message would be stale by then). */
export const MAX_RETRY_AFTER_MS = 24 * 3600 * 1000;

/** The shortest wait between tries, even when Retry-After says 0: the tries are few. */
export const MIN_RETRY_WAIT_MS = 1_000;

/**
 * How long to wait before the next try after attempt number `attempt` failed: what the
 * push service asked for in Retry-After (RFC 8030 §8.4, RFC 9110 §10.2.3), whether shorter
 * or longer than our backoff, but at least a second; the exponential backoff when it asked
 * for nothing.
 */
export function retryWait(retryAfterMs: number | null, attempt: number): number {
  if (retryAfterMs === null) return backoffMs(attempt);
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(MIN_RETRY_WAIT_MS, retryAfterMs));
}

/**
 * The schema checks the keys' size and form; here the subscription's public key must also be
 * a point on P-256 (else every push to it would fail to encrypt), and both keys are stored as
 * canonical base64url (no padding) for the Web Push library.
 */
export async function canonicalKeys(keys: { p256dh: string; auth: string }): Promise<{ p256dh: string; auth: string }> {
  const invalid = (path: string, message: string) =>
    badRequest("invalid_request", `${path}: ${message}`, { issues: [{ path, message }] });
  let p256dh: Uint8Array;
  let auth: Uint8Array;
  try {
    p256dh = fromBase64url(keys.p256dh.replace(/=+$/, ""));
    auth = fromBase64url(keys.auth.replace(/=+$/, ""));
  } catch {
    throw invalid("keys", "not base64url");
  }
  try {
    await crypto.subtle.importKey("raw", p256dh, { name: "ECDH", namedCurve: "P-256" }, false, []);
  } catch {
    throw invalid("keys.p256dh", "not a point on the P-256 curve");
  }
  return { p256dh: base64url(p256dh), auth: base64url(auth) };
}
