import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import net, { type AddressInfo } from "node:net";
import tls from "node:tls";
import { tmpdir } from "node:os";
import path from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { ApiError, NetworkError, PushdropClient } from "../../client";
import { directDownload, directDownloadWith, parseHead } from "../../cli/direct-get";
import { downloadToFile } from "../../cli/download";
import { nodeDownload, READ_PATIENCE_MS, type BodyReader } from "../../cli/http";

/**
 * cli/direct-get.ts: the download GET read from the socket into the caller's buffers, against
 * raw TCP servers that cut their answers anywhere, and the answers it leaves to node:http.
 */

const root = mkdtempSync(path.join(tmpdir(), "pushdrop-direct-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Reads a connection's request to its blank line, then hands it to `answer`. */
function onRequest<S extends net.Socket>(answer: (socket: S, request: string) => void | Promise<void>) {
  return (socket: S) => {
    let got = "";
    socket.on("error", () => undefined);
    const onData = (d: Buffer) => {
      got += d.toString("latin1");
      if (!got.includes("\r\n\r\n")) return;
      socket.off("data", onData);
      void answer(socket, got);
    };
    socket.on("data", onData);
  };
}

/** Listens on a free port of 127.0.0.1: the base URL for `scheme`, and a close. */
async function listening(srv: net.Server, scheme: "http" | "https") {
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return { base: `${scheme}://127.0.0.1:${(srv.address() as AddressInfo).port}`, close: () => new Promise((r) => srv.close(r)) };
}

/** A raw server: each connection's request is read to its blank line, then `answer` writes what it likes. */
async function rawServer(answer: (socket: net.Socket, request: string) => void | Promise<void>) {
  const requests: string[] = [];
  const srv = net.createServer(onRequest((socket, request) => (requests.push(request), answer(socket, request))));
  return { ...(await listening(srv, "http")), requests };
}

/** Reads a body to its end with buffers of the sizes given (cycled). */
async function readAll(body: BodyReader, sizes: number[]): Promise<Buffer> {
  const out: Buffer[] = [];
  for (let i = 0; ; i++) {
    const buf = Buffer.alloc(sizes[i % sizes.length]!);
    const n = await body.read(buf);
    if (n === 0) return Buffer.concat(out);
    out.push(Buffer.from(buf.subarray(0, n)));
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("parseHead", () => {
  const head = (...lines: string[]) => ["HTTP/1.1 200 OK", ...lines].join("\r\n");
  it("reads a plain 200 or 206 with one Content-Length", () => {
    expect(parseHead(head("Content-Length: 12", "ETag: \"abc\""))).toMatchObject({ status: 200, length: 12 });
    expect(parseHead(head("content-length: 5", "Content-Length: 5"))?.length).toBe(5);
    const p = parseHead("HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 3-9/10\r\nContent-Length: 7");
    expect(p?.status).toBe(206);
    expect(p?.headers.get("content-range")).toBe("bytes 3-9/10");
  });
  it("leaves to node:http whatever is not that (null)", () => {
    for (const text of [
      head("Transfer-Encoding: chunked"),
      head("Content-Length: 5", "Transfer-Encoding: chunked"),
      head(), // no length: the body ends with the connection
      head("Content-Length: 5", "Content-Length: 6"),
      head("Content-Length: -1"),
      head("Content-Length: 0x10"),
      head("Content-Length: 5", "Content-Encoding: gzip"),
      head("Content-Length: 5", " folded"),
      head("Content-Length: 5", "Bad Name: x"),
      head("Content-Length: 5", "X: a\x01b"),
      "HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0",
      "HTTP/1.1 404 Not Found\r\nContent-Length: 2",
      "HTTP/2 200\r\nContent-Length: 2",
      "ICY 200 OK\r\nContent-Length: 2",
    ]) {
      expect(parseHead(text), JSON.stringify(text)).toBeNull();
    }
  });
});

describe("reading the body straight into the caller's buffers", () => {
  it("gets every byte, however the server cuts its writes and the reader sizes its buffers (fast-check)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (size, cuts, sizes, junk) => {
          const bytes = randomBytes(size);
          const s = await rawServer(async (socket) => {
            // the head and the body as one stream of bytes, written in pieces that fall anywhere
            const all = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\nX-Pad: ${"p".repeat(cuts[0]! % 3000)}\r\n\r\n`), bytes, junk ? Buffer.from("JUNK") : Buffer.alloc(0)]);
            for (let at = 0, i = 0; at < all.length; i++) {
              const n = Math.max(cuts[i % cuts.length]!, Math.ceil(all.length / 300)); // (300 writes at most: a run stays short)
              socket.write(all.subarray(at, at + n));
              at += n;
              if (i % 3 === 2) await pause(1);
            }
            socket.end();
          });
          try {
            const res = await directDownload(new PushdropClient({ server: s.base, token: "t" }), "/pkg");
            expect(res.status).toBe(200);
            const got = await readAll(res.body, sizes);
            expect(got.length).toBe(size);
            expect(got.equals(bytes)).toBe(true);
          } finally {
            await s.close();
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it("sends the request node:http would: the path and query, the token, Range and If-Range, one connection", async () => {
    const s = await rawServer((socket) => void socket.end("HTTP/1.1 206 Partial Content\r\nContent-Length: 3\r\nContent-Range: bytes 7-9/10\r\n\r\nabc"));
    try {
      const res = await directDownload(new PushdropClient({ server: s.base, token: "tok" }), "/v1/transfers/T/package?x=1", { offset: 7, ifRange: '"e"' });
      expect(res.status).toBe(206);
      expect(res.headers.get("content-range")).toBe("bytes 7-9/10");
      expect((await readAll(res.body, [10])).toString()).toBe("abc");
      const req = s.requests[0]!;
      expect(req.split("\r\n")[0]).toBe("GET /v1/transfers/T/package?x=1 HTTP/1.1");
      expect(req).toMatch(/\r\nhost: 127\.0\.0\.1:\d+\r\n/);
      expect(req).toContain("\r\nauthorization: Bearer tok\r\n");
      expect(req).toContain("\r\nrange: bytes=7-\r\n");
      expect(req).toContain('\r\nif-range: "e"\r\n');
      expect(s.requests).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it.each([
    ["straight from the socket", directDownload],
    ["through node:http (readerOf)", nodeDownload],
  ])("on a slow line, a read gives what came after a moment instead of waiting for its buffer to fill: %s", async (_, getter) => {
    let more!: () => void;
    const s = await rawServer(async (socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n0123456789");
      await new Promise<void>((r) => (more = r));
      socket.end("abcdefghij");
    });
    try {
      const res = await getter(new PushdropClient({ server: s.base }), "/pkg");
      const buf = Buffer.alloc(1024);
      const t0 = Date.now();
      const n = await res.body.read(buf); // (the server sends the rest only once this has answered)
      expect(n).toBe(10);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(READ_PATIENCE_MS - 20);
      expect(buf.toString("latin1", 0, n)).toBe("0123456789");
      more();
      const m = await res.body.read(buf);
      expect(buf.toString("latin1", 0, m)).toBe("abcdefghij");
      expect(await res.body.read(buf)).toBe(0);
    } finally {
      more?.();
      await s.close();
    }
  }, 10_000); // (a read that never gives up waits for ever: the server sends the rest only once it has answered)

  it("a connection that ends early: the bytes that came are given, then the break (a retry resumes from them)", async () => {
    const s = await rawServer((socket) => {
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
      socket.end(Buffer.alloc(40, 7));
    });
    try {
      const res = await directDownload(new PushdropClient({ server: s.base }), "/pkg");
      const buf = Buffer.alloc(1000);
      expect(await res.body.read(buf)).toBe(40);
      const e = await res.body.read(buf).catch((x) => x);
      expect(e).toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
    } finally {
      await s.close();
    }
  });

  it("the signal ends it (AbortError), before the answer and while the body comes", async () => {
    let calls = 0;
    const s = await rawServer((socket) => {
      if (++calls === 1) return; // the first: no answer at all
      socket.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc"); // the second: a body that stops
    });
    try {
      const client = new PushdropClient({ server: s.base });
      const a = new AbortController();
      const pending = directDownload(client, "/pkg", { signal: a.signal });
      await pause(50);
      a.abort();
      expect(await pending.catch((x) => x)).toMatchObject({ name: "AbortError" });
      const b = new AbortController();
      const res = await directDownload(client, "/pkg", { signal: b.signal });
      const reading = res.body.read(Buffer.alloc(1000));
      setTimeout(() => b.abort(), 20);
      // (the 3 bytes that came are given first, or the abort: either way it ends, then rejects)
      const first = await reading.catch((x) => x);
      const e = typeof first === "number" ? await res.body.read(Buffer.alloc(1000)).catch((x) => x) : first;
      expect(e).toMatchObject({ name: "AbortError" });
    } finally {
      await s.close();
    }
  });
});

describe("answers left to node:http (asked again through it)", () => {
  async function nodeServer() {
    const seen: string[] = [];
    const srv = http.createServer((req, res) => {
      seen.push(req.url!);
      if (req.url === "/moved") return void res.writeHead(302, { location: "/chunked" }).end();
      if (req.url === "/chunked") {
        res.writeHead(200); // (no length: chunked)
        res.write("hello ");
        return void res.end("world");
      }
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: "No such transfer." } }));
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    return { base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, seen, close: () => new Promise((r) => srv.close(r)) };
  }

  it("a redirect and a chunked body are read by node:http; an error answer is the server's ApiError", async () => {
    const s = await nodeServer();
    try {
      const client = new PushdropClient({ server: s.base, token: "t" });
      const res = await directDownload(client, "/moved");
      expect((await readAll(res.body, [4])).toString()).toBe("hello world");
      expect(s.seen).toEqual(["/moved", "/moved", "/chunked"]); // (direct, then node:http from the start)
      const e = await directDownload(client, "/nothing").catch((x) => x);
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).code).toBe("not_found");
    } finally {
      await s.close();
    }
  });

  it("no server is a NetworkError", async () => {
    const s = await nodeServer();
    await s.close();
    const e = await directDownload(new PushdropClient({ server: s.base }), "/pkg").catch((x) => x);
    expect(e).toBeInstanceOf(NetworkError);
  });
});

describe("https", () => {
  // a certificate authority and a certificate for 127.0.0.1 it signed, made with openssl for this test
  const dir = mkdtempSync(path.join(root, "tls-"));
  const run = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=pushdrop test CA");
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1");
  writeFileSync(path.join(dir, "ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  run("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf");
  const ca = readFileSync(path.join(dir, "ca.pem"));
  const bytes = randomBytes(3 * 1024 * 1024 + 5);

  /** A raw TLS server: each connection's request read to its blank line, then `answer` writes what it likes. */
  async function tlsServer(answer: (socket: tls.TLSSocket) => void) {
    const srv = tls.createServer({ key: readFileSync(path.join(dir, "srv.key")), cert: readFileSync(path.join(dir, "srv.pem")) }, onRequest<tls.TLSSocket>(answer));
    return listening(srv, "https");
  }

  it("over TLS, a reader that waits between reads still gets every byte (node:tls delivers after the socket pauses)", async () => {
    const big = randomBytes(6 * 1024 * 1024 + 3);
    const s = await tlsServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`);
      socket.end(big);
    });
    try {
      const res = await directDownloadWith({ tls: { ca } })(new PushdropClient({ server: s.base }), "/pkg");
      const out: Buffer[] = [];
      for (let i = 0; ; i++) {
        // (a timer or an I/O turn between reads, as the download has while the hash's ring is full)
        await new Promise((r) => (i % 2 ? setImmediate(r) : setTimeout(r, 2)));
        const buf = Buffer.alloc(2 * 1024 * 1024);
        const n = await res.body.read(buf);
        if (n === 0) break;
        out.push(buf.subarray(0, n));
      }
      expect(Buffer.concat(out).equals(big)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it("over TLS, a head of 64 KiB or more is left to node:http (which refuses it) and nothing spins", async () => {
    const head = `HTTP/1.1 200 OK\r\nX-Big: ${"b".repeat(100_000)}\r\nContent-Length: 2\r\n\r\nok`;
    const s = await tlsServer((socket) => {
      socket.write(head.slice(0, 17)); // (so that 64 KiB falls inside a TLS record, not between two)
      socket.end(head.slice(17));
    });
    try {
      let ticks = 0;
      const ticking = setInterval(() => ticks++, 5); // (the event loop must go on turning)
      const e = await directDownloadWith({ tls: { ca } })(new PushdropClient({ server: s.base }), "/pkg").catch((x) => x);
      clearInterval(ticking);
      expect(e).toBeInstanceOf(Error);
      expect(ticks).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it("reads over TLS with the authority it trusts, and refuses a certificate it does not", async () => {
    const srv = https.createServer({ key: readFileSync(path.join(dir, "srv.key")), cert: readFileSync(path.join(dir, "srv.pem")) }, (req, res) => {
      res.writeHead(200, { "content-length": String(bytes.length) });
      res.end(bytes);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const base = `https://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const client = new PushdropClient({ server: base, token: "t" });
      const part = path.join(root, "tls.part");
      await downloadToFile(client, "/pkg", part, { size: bytes.length, sha256: sha(bytes), get: directDownloadWith({ tls: { ca } }) });
      expect(readFileSync(part).equals(bytes)).toBe(true);
      const e = await directDownload(client, "/pkg").catch((x) => x);
      expect(e).toBeInstanceOf(NetworkError);
      expect(String(e.cause?.code ?? e.cause)).toMatch(/UNABLE_TO_VERIFY|SELF_SIGNED|CERT/);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});
