/// <reference lib="webworker" />
import { allowWasmSha256, checkSealedTo, decodeSeal, openSeal, openStream, SEAL_NAME, sealKeyCounts, type HeaderSeen } from "../../client/seal";
import { decrypterFor } from "../../client/seal/stream";
import type { PushPayload } from "../../src/contract/messages";
import type { SealDocument } from "../../src/contract/seal";
import { allIdentities, identitiesOf } from "../shared/keystore";
import { rangeFrom, resumingBody } from "../shared/resuming-body";
import { SAVE_PATH, type SaveJob, type SaveReport } from "../shared/save-job";
import { SEAL_WORKERS } from "../shared/seal-workers";
import { loadWasmAead, type AeadKind } from "../seal-worker/chacha";

/**
 * The service worker's sealed part (issue 23), built by scripts/build-web.mjs into its own
 * classic script, /sw-seal.js, which /sw.js loads with importScripts (a service worker cannot
 * import() a chunk): the age library and this device's keys (IndexedDB), for
 *  - the streamed save: a page hands a job over a MessageChannel (web/seal/save.ts), then its
 *    hidden frame asks for `/_sealed/<job>/<name>`: the answer is the file fetched through its
 *    signed link and decrypted while it streams, an attachment under its real name, in a sandbox
 *    (`Content-Security-Policy: sandbox; default-src 'none'`, `nosniff`: a sealed page never runs);
 *    a connection that drops meanwhile is resumed with a range (web/shared/resuming-body.ts);
 *  - a push's seal (`openPush`), so the notification can say what came.
 */
declare const self: ServiceWorkerGlobalScope & { pushdropSeal?: SwSeal };

// /sw.js's CSP allows WebAssembly (public/_headers): a saved file's SHA-256 is hash-wasm's, about
// three times the JavaScript hash's rate in Chromium (client/seal/sha256.ts)
allowWasmSha256();

// and age-encryption's ChaCha20-Poly1305 here is libsodium's WebAssembly (/seal-aead.js, about 3×
// @noble/ciphers' rate: web/seal-worker/chacha.ts, given to age by scripts/chacha-plugins.mjs).
// A service worker may import a new script only while it starts for the first time or installs;
// imported then, it is kept with the worker's own scripts, and a later run imports it from there
// when it first opens a file, not at every start (a push, a click). Where it cannot (not built,
// WebAssembly refused), age keeps @noble/ciphers' JavaScript.
self.addEventListener("install", () => {
  try {
    importScripts(SEAL_WORKERS.aead);
  } catch {
    // (opened with JavaScript's, then)
  }
});
let aead: Promise<AeadKind> | null = null;
const wasmAead = () => (aead ??= loadWasmAead(SEAL_WORKERS.aead));

export interface SwSeal {
  /** A sealed `transfer.ready` push's seal, opened with this browser's keys, or null (none, or it does not open or match). */
  openPush(p: PushPayload): Promise<SealDocument | null>;
  /** Which ChaCha20-Poly1305 opens sealed files here ("wasm": libsodium's; loaded on the first call) */
  aead(): Promise<AeadKind>;
}

const jobs = new Map<string, { job: SaveJob; port: MessagePort }>();
/** a job not asked for within this long is dropped */
const JOB_TTL_MS = 60_000;

const report = (port: MessagePort, r: SaveReport) => port.postMessage(r);

function isJob(j: unknown): j is SaveJob {
  const o = j as Record<string, unknown> | null;
  if (!o || typeof o !== "object") return false;
  const text = (k: string) => typeof o[k] === "string" && (o[k] as string).length > 0;
  const count = (k: string) => typeof o[k] === "number" && Number.isSafeInteger(o[k]) && (o[k] as number) >= 0;
  if (!["id", "url", "name", "sha256", "terminalId"].every(text) || !count("size") || !count("sealedSize")) return false;
  try {
    // only this server's links: the worker fetches nothing else for a page
    return new URL(o.url as string).origin === self.location.origin;
  } catch {
    return false;
  }
}

self.addEventListener("message", (e) => {
  const data = e.data as { type?: string; job?: unknown } | null;
  if (data?.type !== "pushdrop.save") return;
  const port = e.ports[0];
  if (!port) return;
  if (!isJob(data.job)) return report(port, { type: "failed", code: "bad_job", message: "not a save job" });
  const job = data.job;
  jobs.set(job.id, { job, port });
  setTimeout(() => jobs.get(job.id)?.port === port && jobs.delete(job.id), JOB_TTL_MS);
  report(port, { type: "ready" });
});

self.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith(SAVE_PATH)) return;
  const id = url.pathname.slice(SAVE_PATH.length).split("/")[0] ?? "";
  const entry = e.request.method === "GET" ? jobs.get(id) : undefined;
  jobs.delete(id); // one answer per job
  e.respondWith(entry ? serve(entry.job, entry.port) : refusal(404, "This save is not (or no longer) under way. Press Download again."));
});

/** What every answer on the save path carries: never shown as a page, never sniffed, never run. */
const SAFE_HEADERS = {
  "content-security-policy": "sandbox; default-src 'none'",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
};

const refusal = (status: number, text: string) => new Response(text, { status, headers: { ...SAFE_HEADERS, "content-type": "text/plain; charset=utf-8" } });

/** `attachment` with the real name: RFC 6266 / 5987 (`filename*`), and a plain ASCII fallback. */
export function disposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const utf8 = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${utf8}`;
}

/**
 * The plaintext as a response, checked as it streams: the last chunk is held back until the
 * whole file's size and SHA-256 match the seal (openStream fails at the end otherwise), so a file
 * that fails its check never completes in the browser's downloads.
 */
async function serve(job: SaveJob, port: MessagePort): Promise<Response> {
  const fail = (e: unknown, status = 502) => {
    const code = (e as { code?: string } | null)?.code ?? "failed";
    const message = e instanceof Error ? e.message : String(e);
    report(port, { type: "failed", code, message });
    return refusal(status, message);
  };
  let plain: ReadableStream<Uint8Array>;
  try {
    const [ids, res] = await Promise.all([identitiesOf(job.terminalId), fetch(job.url), wasmAead()]);
    if (!res.ok || !res.body) return fail(Object.assign(new Error(`The server answered ${res.status}.`), { code: `http_${res.status}` }));
    if (ids.length === 0) return fail(Object.assign(new Error("This device has no key."), { code: "no_key" }), 403);
    // a dropped connection is resumed from the byte it got to, into the same decrypter
    const sealed = resumingBody(res, job.sealedSize, (from, etag) => fetch(job.url, { headers: rangeFrom(from, etag) }));
    plain = await openStream(sealed, ids, { sealedSize: job.sealedSize, size: job.size, sha256: job.sha256 });
  } catch (e) {
    return fail(e);
  }
  const reader = plain.getReader();
  let held: Uint8Array | null = null;
  let bytes = 0;
  let told = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(c) {
      try {
        for (;;) {
          const r = await reader.read();
          if (r.done) {
            if (held) c.enqueue(held);
            c.close();
            report(port, { type: "progress", bytes });
            report(port, { type: "done" });
            return;
          }
          bytes += r.value.length;
          if (bytes - told >= 4 * 1024 * 1024) report(port, { type: "progress", bytes: (told = bytes) });
          const previous = held;
          held = r.value;
          if (previous) return c.enqueue(previous);
        }
      } catch (e) {
        fail(e);
        c.error(e);
      }
    },
    cancel(reason) {
      void reader.cancel(reason).catch(() => {});
      report(port, { type: "failed", code: "cancelled", message: "The download was stopped." });
    },
  });
  report(port, { type: "progress", bytes: 0 });
  return new Response(body, {
    headers: {
      ...SAFE_HEADERS,
      "content-type": "application/octet-stream",
      "content-length": String(job.size),
      "content-disposition": disposition(job.name),
    },
  });
}

const fromBase64 = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function openPush(p: PushPayload): Promise<SealDocument | null> {
  if (p.type !== "transfer.ready" || !("seal" in p) || typeof p.seal !== "string") return null;
  const ids = (await allIdentities()).map((k) => k.identity);
  if (ids.length === 0) return null;
  const bytes = fromBase64(p.seal);
  if ("summary" in p) {
    // a summary lists no files: what it names is checked (transfer, sender, how many files), and
    // the seal's header, as openSeal checks it: sealed to the recipients it names and nobody else
    const seen: HeaderSeen = { stanzas: null };
    const doc = decodeSeal(await decrypterFor(ids, seen).decrypt(bytes));
    checkSealedTo(seen, sealKeyCounts(doc), SEAL_NAME);
    return doc.transferId === p.transferId && doc.from === p.from.id && doc.files.length === p.files.count - 1 && p.message === null ? doc : null;
  }
  return openSeal(bytes, ids, p.transfer); // checked against the whole transfer (checkSeal)
}

self.pushdropSeal = { openPush: (p) => openPush(p).catch(() => null), aead: wasmAead };
