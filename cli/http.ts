import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { ApiError, NetworkError, networkReason, type PushdropClient, type PutFn } from "../client";
import type { DownloadRequestOptions } from "../client/api";

/**
 * The upload `put` for Node: node:http with the blob streamed from disk (a slice of
 * `fs.openAsBlob`, read as it goes, never held whole), telling `onProgress` how many bytes
 * the socket has taken so far. Node's `fetch` says nothing until the answer comes, which
 * for a part of 16 or 64 MiB on a slow line is a progress bar that stands still for minutes.
 */

const agents = {
  "http:": new http.Agent({ keepAlive: true, maxSockets: 8 }),
  "https:": new https.Agent({ keepAlive: true, maxSockets: 8 }),
};

/** How often (bytes) progress is reported at most: every 256 KiB is smooth and cheap. */
const REPORT_EVERY = 256 * 1024;

export const nodePut: PutFn = (url, body, headers, opts) =>
  new Promise<Response>((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, {
      method: "PUT",
      agent: agents[u.protocol as "http:" | "https:"],
      headers: { ...headers, "content-length": String(body.size), "content-type": "application/octet-stream" },
      signal: opts.signal,
    });
    let settled = false;
    let written = false;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      req.destroy();
      reject(e);
    };
    req.on("error", fail);
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", fail);
      res.on("end", () => {
        if (settled) return;
        settled = true;
        const h = headersOf(res);
        const status = res.statusCode ?? 502;
        const text = Buffer.concat(chunks);
        // an answer before the whole body went out (a refusal): this connection cannot be reused
        if (!written) req.destroy();
        resolve(new Response(status === 204 || status === 304 ? null : text, { status, headers: h }));
      });
    });

    void (async () => {
      let sent = 0;
      let reported = 0;
      try {
        for await (const chunk of Readable.fromWeb(body.stream() as import("node:stream/web").ReadableStream<Uint8Array>)) {
          if (settled) return; // the server answered early (an error) or the request failed
          const buf = chunk as Uint8Array;
          if (!req.write(buf)) await drained(req);
          sent += buf.byteLength;
          if (sent - reported >= REPORT_EVERY) {
            reported = sent;
            opts.onProgress?.(sent);
          }
        }
        written = true;
        req.end();
      } catch (e) {
        fail(e);
      }
    })();
  });

/** Resolves when the request can take more bytes, or is gone. */
function drained(req: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off("drain", done);
      req.off("close", done);
      resolve();
    };
    req.on("drain", done);
    req.on("close", done);
  });
}

export function headersOf(res: http.IncomingMessage): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
    else if (v !== undefined) h.set(k, v);
  }
  return h;
}

/** A download's answer (200/206) with its body unread. */
export interface Incoming {
  status: number;
  headers: Headers;
  body: BodyReader;
}

/**
 * A body read into the caller's buffers: cli/direct-get.ts reads the socket straight into them
 * (no buffer per chunk, no copy); `readerOf` copies a Node stream's chunks into them.
 */
export interface BodyReader {
  /**
   * Fills `into` from its start with the body's next bytes; resolves with how many once it is
   * full, or the body ended (0: it had ended), or some bytes came and then none for a while (a
   * slow line still shows progress). Rejects when the body breaks off (a read that has some
   * bytes gives them first; the next one rejects); one read at a time.
   */
  read(into: Uint8Array): Promise<number>;
  /** ends it: the connection is dropped, a read under way rejects */
  destroy(): void;
}

/** How long a read that has some bytes waits for more before it gives them (a slow line). */
export const READ_PATIENCE_MS = 250;

/** A Node stream (node:http's body, fetch's through Readable.fromWeb) as a BodyReader: its chunks copied into the buffers given. */
export function readerOf(body: Readable): BodyReader {
  let rest: Buffer | null = null; // what is left of a chunk a read took only in part
  let ended = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  body.on("readable", poke);
  body.on("end", () => {
    ended = true;
    poke();
  });
  body.on("error", (e) => {
    failure ??= e;
    poke();
  });
  body.on("close", () => {
    if (!ended) failure ??= Object.assign(new Error("premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" });
    poke();
  });
  return {
    read: async (into) => {
      let n = 0;
      let late = false; // READ_PATIENCE_MS have passed since this read's first bytes came
      let patience: NodeJS.Timeout | undefined; // (one timer a read, armed when its first bytes came)
      try {
        for (;;) {
          while (n < into.length) {
            const c: Buffer | null = rest ?? (body.read() as Buffer | null);
            rest = null;
            if (c === null) break;
            const take = Math.min(c.length, into.length - n);
            into.set(take === c.length ? c : c.subarray(0, take), n);
            if (take < c.length) rest = c.subarray(take);
            n += take;
          }
          if (n === into.length || (ended && rest === null)) return n;
          if (failure) {
            if (n > 0) return n; // (what came before the break is kept; the next read says it)
            throw failure;
          }
          if (late) return n;
          // (armed in the same turn as the first bytes came: nothing waits between them and here)
          if (n > 0) patience ??= setTimeout(() => ((late = true), poke()), READ_PATIENCE_MS).unref();
          await new Promise<void>((resolve) => (wake = resolve));
        }
      } finally {
        clearTimeout(patience);
      }
    },
    destroy: () => void body.destroy(),
  };
}

const REDIRECTS = 5;

/**
 * `client.download` through node:http, its body a Node stream (the socket's chunks as they
 * come) instead of fetch's web stream: undici's body stream, a promise per chunk and a copy
 * through a byte stream controller, cost about 1.5 CPU-s per GiB on the main thread here.
 * The same request (client.downloadRequest: Range, If-Range, the token unless the link is
 * signed) and the same answers: an error status is read and thrown as ApiError, no answer is
 * NetworkError, the signal aborts it (AbortError); a redirect is followed (5 at most), without
 * the token when it leads to another origin, as fetch does.
 */
export async function nodeDownload(client: PushdropClient, pathOrUrl: string, opts: DownloadRequestOptions = {}): Promise<Incoming> {
  const { url, headers } = client.downloadRequest(pathOrUrl, opts);
  let u = new URL(url);
  for (let hop = 0; ; hop++) {
    let res: http.IncomingMessage;
    try {
      res = await get(u, headers, opts.signal);
    } catch (e) {
      if (e instanceof Error && e.name === "AbortError") throw e;
      throw new NetworkError(`Could not reach ${client.server} (${networkReason(e)}).`, e);
    }
    const status = res.statusCode ?? 502;
    const location = res.headers.location;
    if ([301, 302, 303, 307, 308].includes(status) && location && hop < REDIRECTS) {
      res.resume(); // (its body, if any, is not wanted)
      const to = new URL(location, u);
      if (to.origin !== u.origin) delete headers.authorization;
      u = to;
      continue;
    }
    if (status >= 400) {
      const chunks: Buffer[] = [];
      try {
        for await (const c of res) chunks.push(c as Buffer);
      } catch {
        // (what came of the error's body is enough)
      }
      throw await ApiError.from(new Response(Buffer.concat(chunks), { status: Math.min(599, status), headers: headersOf(res) }));
    }
    if (status < 200 || status >= 300) {
      res.resume();
      throw new ApiError(status, "bad_response", `The server answered ${status} to a download.`);
    }
    return { status, headers: headersOf(res), body: readerOf(res) };
  }
}

function get(u: URL, headers: Record<string, string>, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const mod = u.protocol === "https:" ? https : http;
    const req = mod.request(u, { method: "GET", agent: agents[u.protocol as "http:" | "https:"], headers, signal });
    req.on("error", reject); // (after the answer came, the body's own stream reports a break)
    req.on("response", resolve);
    req.end();
  });
}
