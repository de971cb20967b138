import { randomBytes } from "node:crypto";
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sha256 } from "./support/bytes.ts";
import { commandOf, processTree, waitGone } from "./support/procs.ts";
import { LiveSocket, register, removeState, sleep, startServer, type Server, type Terminal } from "./support/server.ts";
import { readZip } from "./support/zip.ts";

/**
 * Crash recovery: `npm start` is killed (SIGKILL of every process it started, all at once)
 * at the worst moments and started again on the same state: mid-upload, 300 ms after the
 * last part (mid-packaging), with messages unacknowledged, mid-download. Nothing accepted is
 * lost, nothing waits long, nothing is sent twice; every byte is checked by Python's zipfile.
 * And when `npm start` is killed, nothing it started keeps running.
 */

const MiB = 1024 * 1024;

let server: Server;
let state: string;
let dir: string;

beforeAll(async () => {
  state = mkdtempSync(path.join(tmpdir(), "pushdrop-faults-"));
  dir = mkdtempSync(path.join(tmpdir(), "pushdrop-faults-files-"));
  server = await startServer({ state });
});
afterAll(async () => {
  await server?.stop();
  removeState(state);
  rmSync(dir, { recursive: true, force: true });
});

/** A crash, then `npm start` again on the same state; returns how long the restart took. */
async function crashAndRestart(): Promise<number> {
  await server.crash();
  const t0 = Date.now();
  server = await startServer({ state });
  return Date.now() - t0;
}

const api = (t: Terminal, p: string, init: RequestInit = {}) => fetch(`${server.base}${p}`, { ...init, headers: { ...t.auth, ...(init.headers ?? {}) } });
const transferOf = async (t: Terminal, id: string) => (await (await api(t, `/v1/transfers/${id}`)).json()) as any;

async function until<T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- server log (tail) ---\n${server.logs().slice(-3000)}`);
    await sleep(200);
  }
}

describe("killed at the worst moments, started again on the same state", () => {
  const big = randomBytes(6 * 16 * MiB + 4 * MiB); // 7 parts
  const note = new TextEncoder().encode("a note that came along\n".repeat(40));
  let a: Terminal;
  let b: Terminal;
  let transfer: any;
  let message: any;
  let partSize: number;
  const part = (n: number) => big.subarray((n - 1) * partSize, n * partSize);

  it("mid-upload: the answered parts are kept, the half-sent one is not recorded, and the client resumes", async () => {
    a = await register(server.base, "A");
    b = await register(server.base, "B");
    const res = await api(a, "/v1/transfers", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: [b.id], files: [{ name: "big.bin", size: big.byteLength }, { name: "note.txt", size: note.byteLength, type: "text/plain" }] }),
    });
    expect(res.status).toBe(201);
    transfer = await res.json();
    partSize = transfer.files[0].partSize;
    expect(transfer.files[0].parts).toBe(7);
    expect((await api(a, `/v1/transfers/${transfer.id}/files/1`, { method: "PUT", body: note })).status).toBe(200);
    for (const n of [1, 2, 3, 5, 6, 7]) {
      expect((await api(a, `/v1/transfers/${transfer.id}/files/0?part=${n}`, { method: "PUT", body: part(n) })).status).toBe(200);
    }
    // part 4: half of it sent, then the service dies under it
    const req = request(`${server.base}/v1/transfers/${transfer.id}/files/0?part=4`, {
      method: "PUT",
      headers: { ...a.auth, "content-length": String(partSize) },
    });
    req.on("error", () => {});
    req.write(part(4).subarray(0, 8 * MiB));
    await sleep(1500);
    await crashAndRestart();
    req.destroy();

    const t = await transferOf(a, transfer.id);
    expect(t.status).toBe("uploading");
    expect([...t.files[0].partsReceived].sort((x: number, y: number) => x - y)).toEqual([1, 2, 3, 5, 6, 7]);
    expect(t.files[0].received).toBe(big.byteLength - partSize);
    expect(t.files[1].received).toBe(note.byteLength);
  });

  it("mid-packaging (killed as soon as the last part is answered): ready with a correct package within a minute of the restart", async () => {
    const res = await api(a, `/v1/transfers/${transfer.id}/files/0?part=4`, { method: "PUT", body: part(4) });
    expect(res.status).toBe(200);
    expect(((await res.json()) as any).status).toBe("packaging");
    // (packaging 100 MiB takes a few hundred ms here: the kill lands in the middle of it)
    const packagedBefore = server.logs().includes(`"event":"packaged","transfer":"${transfer.id}"`);
    await crashAndRestart();
    const t0 = Date.now();
    const ready = await until("ready", async () => {
      const t = await transferOf(a, transfer.id);
      return t.status === "ready" ? t : undefined;
    }, 60_000);
    console.log(`[faults] packaging ${packagedBefore ? "had finished" : "was cut off"} by the kill; ready ${Date.now() - t0} ms after the restart`);
    expect(Date.now() - t0).toBeLessThan(60_000);
    transfer = ready;
  });

  it("with messages unacknowledged: each is replayed once after the restart, and never again once acknowledged", async () => {
    const sock = await LiveSocket.open(server.base, b);
    await sock.next((m) => m.type === "transfer.ready" && m.transfer.id === transfer.id);
    const res = await api(a, "/v1/transfers", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ to: [b.id], files: [], message: "said just before the crash" }),
    });
    message = await res.json();
    await sock.next((m) => m.type === "transfer.ready" && m.transfer.id === message.id);
    // neither is acknowledged when the service dies
    await crashAndRestart();
    await sock.close();

    const again = await LiveSocket.open(server.base, b);
    await again.next((m) => m.type === "transfer.ready" && m.transfer.id === message.id);
    await sleep(1500); // anything sent twice would be here by now
    const ids = again.messages.map((m) => m.id);
    expect(ids).toEqual([`${transfer.id}.ready`, `${message.id}.ready`]);
    for (const id of ids) again.ack(id);
    await until("the message read", async () => ((await transferOf(a, message.id)).status === "delivered" ? true : undefined), 10_000);
    await again.close();
    const third = await LiveSocket.open(server.base, b);
    await sleep(1000);
    expect(third.messages).toEqual([]);
    await third.close();
  });

  it("mid-download: the cut download does not count; resumed from where the client was, it counts once; every byte checks out", async () => {
    const zip = path.join(dir, "package.zip");
    writeFileSync(zip, "");
    let got = 0;
    // B downloads, and the service dies after 40 MiB (the client holds off reading more)
    await new Promise<void>((resolve, reject) => {
      const req = request(`${server.base}/v1/transfers/${transfer.id}/package`, { headers: b.auth }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on("data", (chunk: Buffer) => {
          appendFileSync(zip, chunk);
          got += chunk.byteLength;
          if (got >= 40 * MiB) {
            res.pause();
            resolve();
          }
        });
        res.on("error", () => {});
      });
      req.on("error", (e) => (got >= 40 * MiB ? undefined : reject(e)));
      req.end();
    });
    await sleep(300);
    await crashAndRestart();

    let t = await transferOf(a, transfer.id);
    expect(t.recipients[0].downloadedAt).toBeNull();
    expect(t.downloads).toBe(1); // the download started (a start from byte 0 counts at once)
    const aSock = await LiveSocket.open(server.base, a);
    const rest = await api(b, `/v1/transfers/${transfer.id}/package`, { headers: { range: `bytes=${got}-` } });
    expect(rest.status).toBe(206);
    appendFileSync(zip, new Uint8Array(await rest.arrayBuffer()));
    expect(sha256(readFileSync(zip))).toBe(transfer.package.sha256);

    const receipt = await aSock.next((m) => m.type === "transfer.downloaded" && m.transferId === transfer.id, 20_000);
    expect(receipt.by).toBe(b.id);
    await sleep(1000);
    expect(aSock.messages.filter((m) => m.type === "transfer.downloaded" && m.transferId === transfer.id)).toHaveLength(1);
    await aSock.close();
    t = await transferOf(a, transfer.id);
    expect(t.status).toBe("delivered");
    expect(t.downloads).toBe(1);

    const report = readZip(zip);
    expect(report.bad).toBeNull();
    expect(report.entries["big.bin"]).toEqual({ sha256: sha256(big), size: big.byteLength, method: 0 });
    expect(report.entries["note.txt"]).toEqual({ sha256: sha256(note), size: note.byteLength, method: 0 });
    expect(report.manifest.transferId).toBe(transfer.id);
  });
});

describe("when npm start is killed, nothing it started keeps running", () => {
  const portFree = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => (s.destroy(), resolve(false)));
      s.once("error", () => resolve(true));
    });

  for (const how of ["SIGKILL of its process group", "SIGKILL of the node process of scripts/start.mjs alone", "SIGTERM of the npm process alone"] as const) {
    it(how, async () => {
      const s = await startServer();
      try {
        const pids = processTree(s.pid);
        const commands = pids.map(commandOf);
        expect(commands.some((c) => c.includes("workerd"))).toBe(true);
        expect(commands.some((c) => c.includes("wrangler"))).toBe(true);
        if (how === "SIGKILL of its process group") process.kill(-s.pid, "SIGKILL");
        else if (how === "SIGTERM of the npm process alone") process.kill(s.pid, "SIGTERM"); // (its shell and start.mjs outlive npm)
        else process.kill(pids.find((p) => commandOf(p).includes("scripts/start.mjs") && !commandOf(p).startsWith("sh "))!, "SIGKILL");
        const left = await waitGone(pids, 15_000);
        expect(left.map((p) => `${p} ${commandOf(p)}`)).toEqual([]);
        expect(await portFree(s.port)).toBe(true);
      } finally {
        await s.stop("SIGKILL");
        removeState(s.state);
      }
    });
  }
});
