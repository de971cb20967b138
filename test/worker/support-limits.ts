import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { app } from "../../src/app";
import { BASE, env, type TestTerminal } from "./helpers";

/**
 * The worker with some limits of its own for one request (the same app, another env), as an
 * operator would set them in [vars]: shared by limits.test.ts and quota.test.ts. Each call waits
 * for the work the request left (waitUntil) before it answers.
 */
export async function call(limits: Record<string, string>, path: string, init: RequestInit = {}): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`${BASE}${path}`, init), { ...env, ...limits }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** POST /v1/transfers as `t`, under `limits`. */
export const create = (limits: Record<string, string>, t: TestTerminal, body: unknown) =>
  call(limits, "/v1/transfers", { method: "POST", headers: { ...t.auth, "content-type": "application/json" }, body: JSON.stringify(body) });

/** PUT one file's bytes (one part) as `t`, under `limits`. */
export const put = (limits: Record<string, string>, t: TestTerminal, id: string, index: number, body: Uint8Array) =>
  call(limits, `/v1/transfers/${id}/files/${index}`, { method: "PUT", headers: t.auth, body });
