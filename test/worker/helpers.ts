import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { PART_SIZE } from "../../src/config";
import { partKey, uploadPrefix } from "../../src/store/keys";

/** Helpers for Workers Vitest tests: drive the real worker (`exports.default.fetch`) like a client. */

export const BASE = "https://pushdrop.test";

export function api(path: string, init: RequestInit = {}): Promise<Response> {
  return exports.default.fetch(new Request(`${BASE}${path}`, init));
}

/**
 * Requests through the app, each with an execution context of its own, so a test can wait for
 * the work a response leaves behind (`waitUntil`: what a download records once its body went
 * out) and then assert what was recorded, or that nothing was. Read or cancel a download's body
 * before `settled()`: its work ends with the body.
 */
export function trackedRequests() {
  const contexts: ExecutionContext[] = [];
  return {
    async fetch(path: string, init: RequestInit = {}): Promise<Response> {
      const { createExecutionContext } = await import("cloudflare:test");
      const { app } = await import("../../src/app");
      const ctx = createExecutionContext();
      contexts.push(ctx);
      return app.fetch(new Request(`${BASE}${path}`, init), env, ctx);
    },
    /** Every request made so far has finished what it left to do (10 s at most: a body left unread fails here, not by hanging). */
    async settled(): Promise<void> {
      const { waitOnExecutionContext } = await import("cloudflare:test");
      const pending = contexts.splice(0).map((ctx) => waitOnExecutionContext(ctx));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("a request's work did not finish in 10 s (is a download's body unread?)")), 10_000);
      });
      try {
        await Promise.race([Promise.all(pending), late]);
      } finally {
        if (timer !== undefined) clearTimeout(timer);
      }
    },
  };
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

// ---- added for the per-feature tests ------------------------------------------------------

/** One row of a Terminal DO's outbox, with its body parsed. */
export interface OutboxEntry {
  seq: number;
  id: string;
  type: string;
  transfer_id: string | null;
  acked_at: number | null;
  body: any;
}

/** Every row (acknowledged or not) of a terminal's outbox, oldest first, read inside its DO. */
export async function outboxOf(terminalId: string): Promise<OutboxEntry[]> {
  const { runInDurableObject } = await import("cloudflare:test");
  const stub = env.TERMINAL.get(env.TERMINAL.idFromName(terminalId));
  return runInDurableObject(stub, (_instance, state) =>
    state.storage.sql
      .exec<{ seq: number; id: string; type: string; transfer_id: string | null; acked_at: number | null; body: string }>(
        "SELECT seq, id, type, transfer_id, acked_at, body FROM outbox ORDER BY seq",
      )
      .toArray()
      .map((r) => ({ ...r, body: JSON.parse(r.body) })),
  );
}

/** The Terminal DO stub of a terminal id. */
export const terminalStub = (terminalId: string) => env.TERMINAL.get(env.TERMINAL.idFromName(terminalId));

/** Number of rows in a D1 table (optionally with a WHERE clause). */
/** A transfer's D1 row, as stored. */
export const transferRow = (id: string) => env.DB.prepare("SELECT * FROM transfers WHERE id = ?").bind(id).first<any>();

export async function countRows(table: string, where = "1 = 1", ...binds: unknown[]): Promise<number> {
  const row = await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`).bind(...binds).first<{ n: number }>();
  return row!.n;
}

/** GET /v1/transfers/{id} as a terminal, parsed. */
export async function getTransfer(who: TestTerminal, id: string): Promise<any> {
  const res = await api(`/v1/transfers/${id}`, { headers: who.auth });
  if (res.status !== 200) throw new Error(`GET transfer: ${res.status} ${await res.text()}`);
  return json(res);
}

/** Polls the transfer until its status is `status` (default ready). */
export function waitForStatus(who: TestTerminal, id: string, status = "ready", ms = 20_000): Promise<any> {
  return eventually(async () => {
    const t = await getTransfer(who, id);
    return t.status === status ? t : undefined;
  }, ms, `transfer ${id} ${status}`);
}

/** PUT a whole file (or one part of it) as the sender. */
export function putFile(sender: TestTerminal, id: string, index: number, body: BodyInit | null, part?: number, headers: Record<string, string> = {}): Promise<Response> {
  const q = part === undefined ? "" : `?part=${part}`;
  return api(`/v1/transfers/${id}/files/${index}${q}`, { method: "PUT", headers: { ...sender.auth, ...headers }, body });
}

/** Creates a transfer, uploads every file whole (each ≤ one part), and waits until it is ready. */
export async function sendFiles(
  sender: TestTerminal,
  to: TestTerminal[],
  files: Array<{ name: string; data: Uint8Array; type?: string }>,
  extra: Record<string, unknown> = {},
): Promise<any> {
  const res = await createTransfer(sender, {
    to: to.map((t) => t.id),
    files: files.map((f) => ({ name: f.name, size: f.data.byteLength, ...(f.type ? { type: f.type } : {}) })),
    ...extra,
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  const t = await json(res);
  for (let i = 0; i < files.length; i++) {
    if (files[i]!.data.byteLength === 0) continue;
    const put = await putFile(sender, t.id, i, files[i]!.data);
    if (put.status !== 200) throw new Error(`put ${i}: ${put.status} ${await put.text()}`);
  }
  return waitForStatus(sender, t.id);
}

/** A body stream with no Content-Length (chunked), from chunks. */
/**
 * A transfer as it is when its last byte is in but no queue message was sent: its files in
 * R2, completed at `completedAt`, status packaging. The packager (or the sweep) takes it from there.
 */
export async function stageTransfer(
  sender: TestTerminal,
  to: TestTerminal[],
  files: Array<{ name: string; data: Uint8Array; type?: string }>,
  opts: { extra?: Record<string, unknown>; completedAt?: number } = {},
): Promise<any> {
  const res = await createTransfer(sender, {
    to: to.map((t) => t.id),
    files: files.map((f) => ({ name: f.name, size: f.data.byteLength, ...(f.type ? { type: f.type } : {}) })),
    ...opts.extra,
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  const t = await json(res);
  for (let i = 0; i < files.length; i++) await storeParts(t.id, i, files[i]!.data);
  await env.DB.batch([
    env.DB.prepare("UPDATE transfer_files SET completed_at = ? WHERE transfer_id = ?").bind(opts.completedAt ?? Date.now(), t.id),
    env.DB.prepare("UPDATE transfers SET status = 'packaging' WHERE id = ?").bind(t.id),
  ]);
  return t;
}

/** Stores part `n` of file `idx` as an upload would (its own object, named in D1); returns its key. */
export async function storePartObject(transferId: string, idx: number, n: number, chunk: Uint8Array, nonce = "staged"): Promise<string> {
  const key = partKey(transferId, idx, n, nonce);
  const obj = await env.BUCKET.put(key, chunk);
  await env.DB.prepare(
    `INSERT INTO file_parts (transfer_id, idx, part, size, etag, object_key) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (transfer_id, idx, part) DO UPDATE SET size = excluded.size, etag = excluded.etag, object_key = excluded.object_key`,
  )
    .bind(transferId, idx, n, chunk.byteLength, obj!.etag, key)
    .run();
  return key;
}

/** Stores a file's bytes as its uploads would have (one object per part, named in D1). */
export async function storeParts(transferId: string, idx: number, data: Uint8Array, partSize = PART_SIZE): Promise<void> {
  for (let o = 0, n = 1; o < data.byteLength; o += partSize, n++) {
    await storePartObject(transferId, idx, n, data.subarray(o, Math.min(data.byteLength, o + partSize)));
  }
}

/** Every R2 object stored for a transfer's uploads (referenced or not). */
export async function uploadedKeys(transferId: string): Promise<string[]> {
  return (await env.BUCKET.list({ prefix: uploadPrefix(transferId) })).objects.map((o) => o.key);
}

export function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(c) {
      if (i < chunks.length) c.enqueue(chunks[i++]!);
      else c.close();
    },
  });
}

/** Cheap big deterministic data: a small pseudo-random block repeated with a per-block stamp. */
export function bigBytes(n: number, seed = 1): Uint8Array {
  const block = bytes(65_536, seed);
  const out = new Uint8Array(n);
  for (let o = 0, k = 0; o < n; o += block.byteLength, k++) {
    out.set(block.subarray(0, Math.min(block.byteLength, n - o)), o);
    // stamp the block number so no two blocks are equal (a misplaced part would show)
    for (let j = 0; j < 4 && o + j < n; j++) out[o + j] = (k >>> (8 * j)) & 0xff;
  }
  return out;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3), as ZIP uses it. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Reads a Content-Disposition's RFC 8187 `filename*` back into the name it carries. */
export function dispositionName(header: string | null): string | null {
  if (!header) return null;
  const m = /filename\*\s*=\s*UTF-8''([^;\s]+)/i.exec(header);
  return m ? decodeURIComponent(m[1]!) : null;
}

/** A live-channel client inside the test: collects frames, answers acks. */
export async function openSocket(t: TestTerminal, via: "query" | "header" = "query") {
  const res =
    via === "query"
      ? await api(`/v1/terminals/${t.id}/socket?token=${t.token}`, { headers: { upgrade: "websocket" } })
      : await api(`/v1/terminals/${t.id}/socket`, { headers: { upgrade: "websocket", ...t.auth } });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  expect(ws).toBeTruthy();
  const frames: any[] = [];
  let closed = false;
  let code: number | null = null;
  ws.addEventListener("message", (e) => {
    const d = e.data;
    frames.push(typeof d === "string" && d.startsWith("{") ? JSON.parse(d) : d);
  });
  ws.addEventListener("close", (e) => {
    closed = true;
    code = e.code;
  });
  ws.accept();
  return {
    ws,
    frames,
    isClosed: () => closed,
    /** the close code the server sent, once closed */
    closeCode: () => code,
    /** waits for n frames and takes them */
    async take(n: number, ms = 5000): Promise<any[]> {
      await eventually(async () => (frames.length >= n ? true : undefined), ms, `${n} frames (have ${frames.length})`);
      return frames.splice(0, n);
    },
    /** nothing more arrives within a short while */
    async quiet(ms = 150) {
      await new Promise((r) => setTimeout(r, ms));
      expect(frames).toEqual([]);
    },
    send(v: unknown) {
      ws.send(typeof v === "string" ? v : JSON.stringify(v));
    },
    ack(id: string) {
      ws.send(JSON.stringify({ type: "ack", id }));
    },
    close() {
      try {
        ws.close(1000, "bye");
      } catch {
        // already closed
      }
    },
  };
}
