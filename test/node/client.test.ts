import { createHash, randomBytes } from "node:crypto";
import { openAsBlob } from "node:fs";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ApiError, LiveChannel, PushdropClient, uploadFiles, type WebSocketFactory } from "../../client";
import type { ServerMessage } from "../../src/contract";
import { removeState, startServer, type Server } from "./support/server.ts";

/**
 * The API client (client/) that the web app, the CLI and these tests share, against the real
 * `npm start`: an upload cut off half way resumes without sending a part twice, the live channel
 * delivers and acknowledges, and a download resumes from an offset.
 */

const MiB = 1024 * 1024;
let server: Server;
let dir: string;

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(path.join(tmpdir(), "pushdrop-client-"));
});
afterAll(async () => {
  await server?.stop();
  if (server) removeState(server.state);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function terminal(name: string) {
  const anon = new PushdropClient({ server: server.base });
  const t = await anon.register(name);
  return { ...t, client: new PushdropClient({ server: server.base, token: t.token }) };
}

function channel(t: { id: string; client: PushdropClient }) {
  const got: ServerMessage[] = [];
  const ch = new LiveChannel(t.client, t.id, { WebSocket: WebSocket as unknown as WebSocketFactory, onMessage: (m) => got.push(m) });
  const next = async (match: (m: ServerMessage) => boolean, ms = 60_000) => {
    for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      const m = got.find(match);
      if (m) return m;
    }
    throw new Error(`no message; got ${JSON.stringify(got).slice(0, 300)}`);
  };
  return { ch, got, next };
}

describe("the API client against npm start", () => {
  it("resumes an interrupted upload without sending a part the server has, then delivers live", async () => {
    const a = await terminal("A");
    const b = await terminal("B");
    const bLive = channel(b);
    const size = 40 * MiB + 5;
    const bytes = randomBytes(size);
    const file = path.join(dir, "forty.bin");
    writeFileSync(file, bytes);
    const blob = await openAsBlob(file);
    const t = await a.client.createTransfer({ to: [b.id], files: [{ name: "forty.bin", size }], message: "resume me" });
    expect(t.files[0]!.parts).toBe(3);

    // the first try stops after part 2 has gone up (one at a time, so the cut is exact)
    const sent: number[] = [];
    const stop = new AbortController();
    await expect(
      uploadFiles(a.client, t, [blob], {
        concurrency: 1,
        signal: stop.signal,
        onPart: (_i, part) => sent.push(part),
        onProgress: (p) => {
          if (p.files[0]! >= 2 * 16 * MiB) stop.abort(new Error("cut"));
        },
      }),
    ).rejects.toThrow("cut");
    const mid = await a.client.transfer(t.id);
    expect(mid.files[0]!.partsReceived.sort()).toEqual([1, 2]);

    // the second try sends only part 3
    const again: number[] = [];
    const done = await uploadFiles(a.client, mid, [blob], { onPart: (_i, part) => again.push(part) });
    expect(again).toEqual([3]);
    expect(done.partsSent).toBe(1);
    expect(["packaging", "ready"]).toContain(done.status);

    const ready = (await bLive.next((m) => m.type === "transfer.ready" && m.transfer.id === t.id)) as Extract<ServerMessage, { type: "transfer.ready" }>;
    expect(ready.transfer.files[0]!.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));

    // a download resumed from an offset (with If-Range) gives the rest of the same bytes
    const offset = 17 * MiB + 3;
    const res = await b.client.download(b.client.filePath(t.id, 0), { offset, ifRange: `"${ready.transfer.files[0]!.sha256}"` });
    expect(res.status).toBe(206);
    const rest = Buffer.from(await res.arrayBuffer());
    expect(rest.equals(bytes.subarray(offset))).toBe(true);
    // and a signed link works without a token
    const anon = new PushdropClient({ server: server.base });
    const whole = await anon.download(ready.transfer.files[0]!.downloadUrl!);
    expect(Buffer.from(await whole.arrayBuffer()).equals(bytes)).toBe(true);
    bLive.ch.close();
  });

  it("sends a message without files; the recipient's ack is the sender's receipt", async () => {
    const a = await terminal("A");
    const b = await terminal("B");
    const aLive = channel(a);
    const t = await a.client.sendMessage([b.id.replace(/(\d{3})(\d{3})/, "$1 $2 ")], "https://example.com/?q=1");
    expect(t).toMatchObject({ status: "ready", files: [], package: null });
    const bLive = channel(b);
    const ready = await bLive.next((m) => m.type === "transfer.ready");
    bLive.ch.ack(ready.id);
    const receipt = await aLive.next((m) => m.type === "transfer.downloaded");
    expect(receipt).toMatchObject({ transferId: t.id, by: b.id });
    expect((await a.client.transfer(t.id)).status).toBe("delivered");
    aLive.ch.close();
    bLive.ch.close();
  });

  it("a create sent again with its idempotency key answers the transfer already made, not a second one", async () => {
    const a = await terminal("A");
    const b = await terminal("B");
    const req = { to: [b.id], files: [{ name: "once.txt", size: 3 }] };
    const key = `k-${randomBytes(8).toString("hex")}`;
    const first = await a.client.createTransfer(req, { idempotencyKey: key });
    const again = await a.client.createTransfer(req, { idempotencyKey: key });
    expect(again.id).toBe(first.id);
    const other = await a.client.createTransfer(req, { idempotencyKey: `${key}-2` });
    expect(other.id).not.toBe(first.id);
    const reused = await a.client.createTransfer({ ...req, files: [{ name: "other.txt", size: 3 }] }, { idempotencyKey: key }).catch((e) => e);
    expect(reused).toMatchObject({ status: 422, code: "idempotency_key_reused" });
  });

  it("turns the server's errors into ApiError with the contract's code", async () => {
    const a = await terminal("A");
    const err = await a.client.createTransfer({ to: ["123 456 780"], files: [{ name: "x", size: 1 }] }).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, code: "invalid_request" });
    const missing = await a.client.transfer("A".repeat(22)).catch((e) => e);
    expect(missing).toMatchObject({ status: 404, code: "transfer_not_found" });
  });
});
