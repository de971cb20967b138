import { env, exports } from "cloudflare:workers";

/** Helpers for Workers Vitest tests: drive the real worker (`exports.default.fetch`) like a client. */

export const BASE = "https://pushdrop.test";

export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${BASE}${path}`, init));
}

export async function json<T = any>(res: Response): Promise<T> {
  const text = await res.text();
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
}

export interface TestTerminal {
  id: string;
  token: string;
  name: string;
  auth: { authorization: string };
}

export async function register(name?: string): Promise<TestTerminal> {
  const res = await api("/v1/terminals", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(name ? { name } : {}),
  });
  if (res.status !== 201) throw new Error(`register: ${res.status} ${await res.text()}`);
  const t = await json(res);
  return { id: t.id, token: t.token, name: t.name, auth: { authorization: `Bearer ${t.token}` } };
}

export async function createTransfer(sender: TestTerminal, body: unknown): Promise<Response> {
  return api("/v1/transfers", {
    method: "POST",
    headers: { ...sender.auth, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** Deterministic pseudo-random bytes (xorshift), so tests need no fixtures. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export async function sha256(data: Uint8Array | ArrayBuffer): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", data);
  return [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Polls until `check` returns a value (not undefined), or fails after `ms`. */
export async function eventually<T>(check: () => Promise<T | undefined>, ms = 10_000, what = "condition"): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { env };
