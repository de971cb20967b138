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

export function parseRetryAfter(value: string | null, now: number): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

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
  let res: Response;
  try {
    const req = await buildPushPayload(
      { data: payload, options: { ttl: Math.max(0, Math.floor(opts.ttl)), topic: opts.topic, urgency: opts.urgency === "very-low" ? "low" : opts.urgency } },
      subscription,
      vapid,
    );
    res = await fetch(sub.endpoint, { method: "POST", headers: req.headers, body: req.body });
  } catch (e) {
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
