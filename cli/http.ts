import http from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import type { PutFn } from "../client";

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
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) v.forEach((x) => h.append(k, x));
          else if (v !== undefined) h.set(k, v);
        }
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
