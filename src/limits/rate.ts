import type { Context, Next } from "hono";
import { bearerToken, terminalForRequest } from "../auth/terminal";
import { hashToken } from "../auth/tokens";
import { ApiError } from "../errors";
import { limitsOf, type LimitName } from "./config";

/**
 * Rate limits on the API: every request under /v1 takes a token from its bucket (one
 * RateLimiter object per key): a request with a valid token from its terminal's
 * (LIMIT_REQUESTS_PER_TERMINAL_MINUTE), any other from its client address's
 * (LIMIT_REQUESTS_PER_ADDRESS_MINUTE). An empty bucket is a 429 with Retry-After.
 */

const MINUTE = 60_000;
export const HOUR = 3_600_000;

/**
 * The client address a limit is kept for: `CF-Connecting-IP` (set by Cloudflare, and by
 * `wrangler dev`). An IPv6 address counts by its /64, the block one subscriber gets (any
 * address in it is theirs to use). No header: one shared "unknown" bucket.
 */
export function clientAddress(request: Request): string {
  const ip = request.headers.get("cf-connecting-ip")?.trim() ?? "";
  if (!ip) return "unknown";
  if (!ip.includes(":")) return ip;
  return `${ipv6Prefix64(ip)}::/64`;
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` → `2001:db8:0:0`). */
export function ipv6Prefix64(ip: string): string {
  const [head = "", tail] = ip.toLowerCase().replace(/^\[|\]$/g, "").split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  const right = tail === undefined ? [] : tail ? tail.split(":") : [];
  // an embedded IPv4 tail (::ffff:1.2.3.4) takes two groups
  const width = (g: string[]) => g.reduce((n, x) => n + (x.includes(".") ? 2 : 1), 0);
  const groups = tail === undefined ? left : [...left, ...Array(Math.max(0, 8 - width(left) - width(right))).fill("0"), ...right];
  return groups.slice(0, 4).map((g) => (g.includes(".") ? g : String(parseInt(g || "0", 16).toString(16)))).join(":");
}

/**
 * Refusals remembered in this isolate: a key the limiter refused is refused again here, with
 * no lookup and no call to its object, until the time the limiter named (by then the bucket
 * has a token again, so this never refuses what the limiter would allow). A flood thus costs
 * a hash and a map lookup per request. Bounded: forgotten wholesale past MAX_REMEMBERED.
 */
interface Refusal {
  until: number;
  limit: LimitName;
  max: number;
}
const refusals = new Map<string, Refusal>();
const MAX_REMEMBERED = 10_000;

/** Throws the 429 again if `key` was refused and its time has not come. */
export function refusedEarlier(key: string, now = Date.now()): void {
  const r = refusals.get(key);
  if (!r) return;
  if (r.until > now) throw rateLimited(r.limit, r.max, r.until - now);
  refusals.delete(key);
}

function remember(key: string, r: Refusal): void {
  if (refusals.size >= MAX_REMEMBERED) refusals.clear();
  refusals.set(key, r);
}

/**
 * Takes a token from `key`'s bucket (`capacity` per `periodMs`), or throws the 429 naming
 * `limit` (remembered under `rememberAs`, default `key`).
 */
export async function rateLimit(env: Env, key: string, limit: LimitName, capacity: number, periodMs: number, rememberAs = key): Promise<void> {
  refusedEarlier(rememberAs);
  let taken;
  try {
    taken = await env.LIMITER.get(env.LIMITER.idFromName(key)).take(capacity, periodMs);
  } catch (e) {
    // An overloaded bucket object means this key sends far more than any limit: refuse. Any
    // other failure of the limiter lets the request through (and is logged): a broken counter
    // must not take the service down with it.
    if ((e as { overloaded?: boolean })?.overloaded) taken = { ok: false, retryAfterMs: 1000 };
    else {
      console.error(JSON.stringify({ event: "rate_limiter_failed", limit, error: String(e) }));
      return;
    }
  }
  if (!taken.ok) {
    remember(rememberAs, { until: Date.now() + taken.retryAfterMs, limit, max: capacity });
    throw rateLimited(limit, capacity, taken.retryAfterMs);
  }
}

export function rateLimited(limit: LimitName, max: number, retryAfterMs: number): ApiError {
  const retryAfter = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ApiError(
    429,
    "rate_limited",
    `Too many requests (${limit}: ${max}); try again in ${retryAfter} s.`,
    { "Retry-After": String(retryAfter) },
    { limit, max, retryAfter },
  );
}

/** The middleware for /v1/*: one bucket per terminal, or per address for requests without a valid token. */
export async function rateLimits(c: Context<{ Bindings: Env }>, next: Next): Promise<void> {
  const limits = limitsOf(c.env);
  const request = c.req.raw;
  // the live channel may carry its token in the query (a browser WebSocket cannot set headers)
  const allowQuery = /\/socket\/?$/.test(new URL(request.url).pathname);
  const token = bearerToken(request, allowQuery);
  // a token refused a moment ago is refused again before it is even looked up
  const tokenKey = token ? `token:${await hashToken(token)}` : null;
  if (tokenKey) refusedEarlier(tokenKey);
  const terminal = token === null ? null : await terminalForRequest(c.env.DB, request, allowQuery);
  if (terminal) {
    await rateLimit(c.env, `terminal:${terminal.id}`, "LIMIT_REQUESTS_PER_TERMINAL_MINUTE", limits.LIMIT_REQUESTS_PER_TERMINAL_MINUTE, MINUTE, tokenKey!);
  } else {
    await rateLimit(c.env, `address:${clientAddress(request)}`, "LIMIT_REQUESTS_PER_ADDRESS_MINUTE", limits.LIMIT_REQUESTS_PER_ADDRESS_MINUTE, MINUTE);
  }
  await next();
}

/** Registrations: LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR per client address. */
export function limitRegistrations(env: Env, request: Request): Promise<void> {
  const max = limitsOf(env).LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR;
  return rateLimit(env, `register:${clientAddress(request)}`, "LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR", max, HOUR);
}
