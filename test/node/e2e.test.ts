import { execFileSync } from "node:child_process";
import { get as httpGet } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, openAsBlob, openSync, closeSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadFiles } from "../../client";
import type { Transfer } from "../../src/contract";
import { clientOf, LiveSocket, register, removeState, sleep, startServer, type Server, type Terminal } from "./support/server.ts";
import { readZip } from "./support/zip.ts";

/**
 * The whole flow as two devices would drive it against `npm start`: A sends three files
 * (one over 100 MiB, one with a non-ASCII name) to B; B is told over its WebSocket,
 * downloads the package and one file, and every byte is checked; A gets the receipt.
 * The package is checked with Python's zipfile (and unzip when installed), not our code.
 */

const MiB = 1024 * 1024;
let server: Server;
let dir: string;
/**
 * A transfer sent first with the shortest life (60 s), so that the sweep test sees it expire while
 * the others run. `reads` is what its recipient read of it, every 0.5 s until 1 s before its
 * expiry, by a watcher that runs beside the other tests (however long they take).
 */
let expiring: { sender: Terminal; recipient: Terminal; transfer: Transfer; reads: Array<{ status: string; at: number }>; watched: Promise<void> };
beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(path.join(tmpdir(), "pushdrop-e2e-files-"));
  const sender = await register(server.base, "short-lived A");
  const recipient = await register(server.base, "short-lived B");
  const res = await fetch(`${server.base}/v1/send/${recipient.id}/soon-gone.txt?expiresIn=60`, { method: "PUT", headers: sender.auth, body: "gone in a minute" });
  if (res.status !== 201) throw new Error(`send: ${res.status} ${await res.text()}`);
  const transfer = (await res.json()) as Transfer;
  const reads: Array<{ status: string; at: number }> = [];
  const until = Date.parse(transfer.expiresAt) - 1000;
  const watched = (async () => {
    for (; Date.now() < until; await sleep(500)) {
      try {
        const t = (await (await fetch(`${server.base}/v1/transfers/${transfer.id}`, { headers: recipient.auth, signal: AbortSignal.timeout(5000) })).json()) as Transfer;
        if (Date.now() < until) reads.push({ status: t.status, at: Date.now() });
      } catch {
        // (the restart test stops the server for a while)
      }
    }
  })();
  expiring = { sender, recipient, transfer, reads, watched };
});

afterAll(async () => {
  await server?.stop();
  if (server) removeState(server.state);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface LocalFile {
  name: string;
  path: string;
  size: number;
  sha256: string;
  type?: string;
}

function makeFile(name: string, size: number, type?: string): LocalFile {
  const p = path.join(dir, `src-${createHash("sha1").update(name).digest("hex")}`);
  const hash = createHash("sha256");
  const fd = openSync(p, "w");
  let left = size;
  const block = randomBytes(MiB);
  let i = 0;
  while (left > 0) {
    const chunk = block.subarray(0, Math.min(MiB, left));
    chunk[0] = i++ & 0xff; // no two blocks alike
    hash.update(chunk);
    writeFileSync(fd, chunk);
    left -= chunk.length;
  }
  closeSync(fd);
  return { name, path: p, size, sha256: hash.digest("hex"), type };
}

/** Uploads through the shared client: parts in parallel, each ≤ one request, checked by the server. */
async function upload(sender: Terminal, transfer: Transfer, files: LocalFile[]) {
  const sent: Array<[number, number]> = [];
  const result = await uploadFiles(clientOf(server.base, sender), transfer, await Promise.all(files.map((f) => openAsBlob(f.path))), {
    onPart: (i, part) => sent.push([i, part]),
  });
  // every part of every non-empty file went up exactly once
  const expected = transfer.files.flatMap((f) => (f.size === 0 ? [] : Array.from({ length: f.parts }, (_, k) => [f.index, k + 1])));
  expect(sent.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!)).toEqual(expected);
  expect(["packaging", "ready"]).toContain(result.status);
}

async function download(url: string, headers: Record<string, string>, to: string) {
  const res = await fetch(url, { headers });
  expect(res.status).toBe(200);
  await pipeline(Readable.fromWeb(res.body as any), createWriteStream(to));
  return res;
}

const sha256File = (p: string) => execFileSync("sha256sum", [p]).toString().split(" ")[0];

describe("core transfer flow against npm start", () => {
  it("sends three files (one > 100 MiB, one non-ASCII) from A to B, live, with receipt", async () => {
    const a = await register(server.base, "Alice's laptop");
    const b = await register(server.base, "Bob's phone");
    const bSocket = await LiveSocket.open(server.base, b);
    const aSocket = await LiveSocket.open(server.base, a);

    const files = [
      makeFile("big video.mp4", 100 * MiB + 12_345, "video/mp4"),
      makeFile("Grüße — 東京 \"draft\".txt", 200_000),
      makeFile("empty.bin", 0),
    ];
    const transfer = await clientOf(server.base, a).createTransfer({
      to: [b.id],
      message: "holiday pictures ☀",
      files: files.map((f) => ({ name: f.name, size: f.size, ...(f.type ? { type: f.type } : {}) })),
    });
    expect(transfer.status).toBe("uploading");
    expect(transfer.files[0]!.parts).toBeGreaterThan(1);
    expect(transfer.files[1]!.name).toBe("Grüße — 東京 \"draft\".txt");

    await upload(a, transfer, files);

    // B is told over its socket, and acks
    const ready = await bSocket.next((m) => m.type === "transfer.ready" && m.transfer.id === transfer.id, 120_000);
    bSocket.ack(ready.id);
    const t = ready.transfer;
    expect(t.status).toBe("ready");
    expect(t.from).toEqual({ id: a.id, name: "Alice's laptop" });
    expect(t.files.map((f: { sha256: string }) => f.sha256)).toEqual(files.map((f) => f.sha256));
    expect(t.downloadUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/transfers\/.+\/package\?/);

    // one file by its signed link, in a "plain browser tab": no headers
    const one = path.join(dir, "one");
    const fileRes = await download(t.files[1].downloadUrl, {}, one);
    expect(fileRes.headers.get("content-disposition")).toContain("filename*=UTF-8''Gr%C3%BC%C3%9Fe");
    expect(sha256File(one)).toBe(files[1]!.sha256);

    // the package with B's token
    const zip = path.join(dir, "package.zip");
    const pkgRes = await download(`${server.base}/v1/transfers/${transfer.id}/package`, b.auth, zip);
    expect(pkgRes.headers.get("content-type")).toBe("application/zip");
    expect(Number(pkgRes.headers.get("content-length"))).toBe(t.package.size);
    expect(sha256File(zip)).toBe(t.package.sha256);

    // independent readers: Python's zipfile checks CRCs and gives us each entry's sha256; unzip -t
    const report = readZip(zip);
    expect(report.bad).toBeNull();
    for (const f of files) expect(report.entries[f.name]).toEqual({ sha256: f.sha256, size: f.size, method: 0 });
    expect(report.manifest.transferId).toBe(transfer.id);
    expect(report.manifest.message).toBe("holiday pictures ☀");
    expect(report.manifest.files.map((f: any) => f.sha256)).toEqual(files.map((f) => f.sha256));
    // Info-ZIP's unzip lists and extracts the non-ASCII name as it was sent (it reads the names
    // of entries made on MS-DOS in the DOS code page: the package says Unix)
    const utf8Env = { ...process.env, LC_ALL: "C.UTF-8" };
    expect(execFileSync("unzip", ["-Z1", zip], { env: utf8Env }).toString().split("\n")).toContain(files[1]!.name);
    const out = path.join(dir, "unzipped");
    execFileSync("unzip", ["-q", "-o", zip, files[1]!.name, "-d", out], { env: utf8Env });
    expect(sha256File(path.join(out, files[1]!.name))).toBe(files[1]!.sha256);

    // A gets the delivery receipt; the transfer is delivered
    const receipt = await aSocket.next((m) => m.type === "transfer.downloaded" && m.transferId === transfer.id);
    expect(receipt.by).toBe(b.id);
    aSocket.ack(receipt.id);
    const final = await clientOf(server.base, a).transfer(transfer.id);
    expect(final.status).toBe("delivered");
    expect(final.recipients[0]!.notifiedAt).not.toBeNull();
    expect(final.recipients[0]!.channel).toBe("socket");
    expect(final.recipients[0]!.downloadedAt).not.toBeNull();

    await bSocket.close();
    await aSocket.close();
  });

  it("keeps unacknowledged messages across a restart of wrangler dev, and replays them once", async () => {
    const a = await register(server.base);
    const b = await register(server.base);
    const res = await fetch(`${server.base}/v1/send/${b.id}/note.txt`, {
      method: "PUT",
      headers: { ...a.auth, "content-type": "text/plain" },
      body: "remember me",
    });
    expect(res.status).toBe(201);
    const transfer = (await res.json()) as any;
    // wait until it is ready (B has no socket: the message waits in B's outbox)
    for (let i = 0; ; i++) {
      const t = await clientOf(server.base, a).transfer(transfer.id);
      if (t.status === "ready") break;
      if (i > 200) throw new Error(`not ready: ${t.status}`);
      await new Promise((r) => setTimeout(r, 100));
    }

    const state = server.state;
    await server.stop();
    server = await startServer({ state, port: server.port });

    const s1 = await LiveSocket.open(server.base, b);
    const m = await s1.next((x) => x.type === "transfer.ready" && x.transfer.id === transfer.id);
    s1.ack(m.id);
    // the object handles a socket's frames in order: its pong means the ack is in
    s1.ws.send(JSON.stringify({ type: "ping" }));
    await s1.next((x) => x.type === "pong");
    await s1.close();
    const s2 = await LiveSocket.open(server.base, b);
    // a replay is sent before anything else on the socket: once the pong is here, it would be too
    s2.ws.send(JSON.stringify({ type: "ping" }));
    await s2.next((x) => x.type === "pong");
    expect(s2.messages.filter((x) => x.id === m.id)).toEqual([]);
    await s2.close();
    const body = await (await fetch(m.transfer.files[0].downloadUrl)).text();
    expect(body).toBe("remember me");
  });

  it("drives the cron trigger itself: under npm start a transfer past its expiry is swept, and both ends are told", async () => {
    // crons never fire under `wrangler dev`; npm start calls /__scheduled (every 2 s here). Only
    // the sweep sends transfer.expired (reading an expired transfer says "expired" without it)
    const { sender, recipient, transfer } = expiring;
    const expiresAt = Date.parse(transfer.expiresAt);
    expect(expiresAt - Date.parse(transfer.createdAt)).toBe(60_000);
    // not downloaded (a recipient that has it is not told), and there until its time was up: every
    // read until 1 s before it said packaging or ready, and the last ones (within 15 s of the
    // expiry: the restart test may stop the server a while) said ready
    const wait = Math.max(0, expiresAt - Date.now());
    await expiring.watched;
    const reads = expiring.reads;
    expect(reads.filter((r) => r.status !== "packaging" && r.status !== "ready")).toEqual([]);
    expect(reads.at(-1)).toMatchObject({ status: "ready" });
    expect(reads.at(-1)!.at).toBeGreaterThan(expiresAt - 15_000);
    // the sweep runs every 2 s: within 20 s of the expiry (a slow, loaded machine) it has come by
    const sockets = await Promise.all([LiveSocket.open(server.base, sender), LiveSocket.open(server.base, recipient)]);
    try {
      for (const s of sockets) {
        const m = await s.next((x) => x.type === "transfer.expired" && x.transferId === transfer.id, Math.max(0, expiresAt - Date.now()) + 20_000);
        expect(m.id).toBe(`${transfer.id}.expired`);
        s.ack(m.id);
      }
    } finally {
      await Promise.all(sockets.map((s) => s.close()));
    }
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    const after = await fetch(`${server.base}/v1/transfers/${transfer.id}/files/0`, { headers: recipient.auth });
    expect(after.status).toBe(410);
    expect(((await after.json()) as any).error.code).toBe("transfer_expired");
    expect(((await (await fetch(`${server.base}/v1/transfers/${transfer.id}`, { headers: sender.auth })).json()) as any).status).toBe("expired");
    console.log(`expiry seen ${Math.round((Date.now() - expiresAt) / 100) / 10} s after expiresAt (waited ${Math.round(wait / 1000)} s for it)`);
  });

  it("serves a text file as its stored bytes to a client that accepts gzip: Content-Length, ranges, no re-encoding", async () => {
    const a = await register(server.base, "A");
    const b = await register(server.base, "B");
    const text = "plain text, compressible ".repeat(400);
    const sent = await fetch(`${server.base}/v1/send/${b.id}/notes.txt`, { method: "PUT", headers: a.auth, body: text });
    expect(sent.status).toBe(201);
    const t = (await sent.json()) as any;
    let ready: any;
    for (const until = Date.now() + 20_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
      ready = await (await fetch(`${server.base}/v1/transfers/${t.id}`, { headers: b.auth })).json();
      if (ready.status === "ready") break;
    }
    expect(ready.status).toBe("ready");
    // raw HTTP, so that nothing decodes the body for us
    const get = (headers: Record<string, string>) =>
      new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>((resolve, reject) => {
        const req = httpGet(`${server.base}/v1/transfers/${t.id}/files/0`, { headers: { ...b.auth, "accept-encoding": "gzip, br", ...headers } }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        });
        req.on("error", reject);
      });
    const whole = await get({});
    expect(whole.status).toBe(200);
    expect(whole.headers["content-encoding"] ?? "identity").toBe("identity");
    expect(whole.headers["content-length"]).toBe(String(text.length));
    expect(whole.body.toString()).toBe(text);
    const part = await get({ range: "bytes=6-9" });
    expect(part.status).toBe(206);
    expect(part.headers["content-encoding"] ?? "identity").toBe("identity");
    expect(part.headers["content-range"]).toBe(`bytes 6-9/${text.length}`);
    expect(part.body.toString()).toBe("text");
  });

});

describe("wrangler dev's proxy as npm ci patches it (patches/wrangler+4.86.0.patch, workers-sdk#14641)", () => {
  // The hang itself: wrangler dev's proxy keeps a pool of connections to the worker, and kj
  // closes an idle one after 5 s on both ends; a request sent every 5.000 s lands, now and then,
  // on a connection closed just as it is written. Unpatched, such a GET is parked until another
  // request arrives (a hang) and a PATCH gets a plain-text 503: this test unpatched, here, saw 5 of
  // its 10 PATCHes get the 503 and 1 of its 10 GETs hang (other runs: 2 of 12, 1 of 12). With
  // the patch each is sent again on a fresh connection. The sweep's requests every 2 s would keep the pool warm: this server has none.
  const CADENCE_MS = 5000;
  const REQUESTS = 20;
  let quiet: Server;
  beforeAll(async () => {
    quiet = await startServer({ env: { PUSHDROP_SWEEP_SECONDS: "86400" } });
  });
  afterAll(async () => {
    await quiet?.stop();
    if (quiet) removeState(quiet.state);
  });

  it(`requests every ${CADENCE_MS / 1000} s, GET and PATCH in turn, are all answered 200 at once: no hang, no 503`, async () => {
    const t = await register(quiet.base, "cadence");
    const url = `${quiet.base}/v1/terminals/${t.id}/settings`;
    const answers: string[] = [];
    for (let i = 0; i < REQUESTS; i++) {
      const start = performance.now();
      const init: RequestInit = i % 2 === 0 ? { headers: t.auth } : { method: "PATCH", headers: { ...t.auth, "content-type": "application/json" }, body: JSON.stringify({ name: `cadence ${i}` }) };
      let answer: string;
      try {
        const res = await fetch(url, { ...init, signal: AbortSignal.timeout(3000) });
        answer = `${res.status} ${(await res.text()).slice(0, 40)}`;
      } catch (e) {
        answer = `${(e as Error).name}`; // a GET parked by the unpatched proxy: TimeoutError after 3 s
      }
      answers.push(`${init.method ?? "GET"} ${answer.startsWith("200") ? "200" : answer} (${Math.round(performance.now() - start)} ms)`);
      await sleep(Math.max(0, CADENCE_MS - (performance.now() - start)));
    }
    expect(answers.filter((a) => !/ 200 /.test(a)), answers.join("\n")).toEqual([]);
    // and npm start found the patch in place (it warns when not)
    expect(quiet.logs()).not.toContain("dev proxy is unpatched");
  });
});
