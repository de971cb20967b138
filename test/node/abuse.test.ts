import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveSocket, register, removeState, startServer, type Server, type Terminal } from "./support/server.ts";

/**
 * Issue 21, item 1, reproduced from outside against the real `npm start` with its default
 * limits (wrangler.toml): the inbox lockout. Before, one request declaring 20 + 20 + 10 GiB for
 * a victim, with nothing ever uploaded, made every transfer to the victim `413 inbox_full` for
 * 7 days, and neither blocking nor `accept: "known"` released it. Now declarations take no room
 * in an inbox, one sender's declarations are held to its share, the victim sees what waits for
 * it, and blocking (or `accept: "known"`) releases it.
 */

const GiB = 1024 ** 3;
let server: Server;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
  if (server) removeState(server.state);
});

async function call(t: Terminal | null, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = t ? { ...t.auth } : {};
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${server.base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const declare = (from: Terminal, to: Terminal[], files: Array<{ name: string; size: number }>) =>
  call(from, "POST", "/v1/transfers", { to: to.map((t) => t.id), files, expiresIn: 604800 });

describe("the inbox lockout, against npm start", () => {
  it("declared gigabytes lock nobody out; the victim sees what waits, still receives, and blocking or accept: known releases the rest", async () => {
    const victim = await register(server.base, "Victim");
    const attackers = [await register(server.base, "A1"), await register(server.base, "A2"), await register(server.base, "A3")];
    const friend = await register(server.base, "Friend");

    // the request of the report: 50 GiB from one sender, 7 days, nothing to be uploaded
    const report = await declare(attackers[0]!, [victim], [{ name: "a", size: 20 * GiB }, { name: "b", size: 20 * GiB }, { name: "c", size: 10 * GiB }]);
    expect(report.status).toBe(413);
    expect(report.body.error.code).toBe("inbox_full");
    expect(report.body.error.details).toEqual({ limit: "LIMIT_PENDING_BYTES_PER_SENDER", max: 20 * GiB, recipients: [victim.id] });

    // the same 50 GiB spread over three senders, each within its share: accepted
    const held: string[] = [];
    for (const [i, size] of [20 * GiB, 20 * GiB, 10 * GiB].entries()) {
      const files = i === 2 ? [{ name: "x", size }, { name: "small.bin", size: 1000 }] : [{ name: "x", size }];
      const res = await declare(attackers[i]!, [victim], files);
      expect(res.status).toBe(201);
      held.push(res.body.id);
    }
    // one of them uploads a little: the victim sees it waiting, still uploading
    const small = new Uint8Array(1000).fill(7);
    const part = await fetch(`${server.base}/v1/transfers/${held[2]}/files/1`, { method: "PUT", headers: attackers[2]!.auth, body: small });
    expect(part.status).toBe(200);
    await part.arrayBuffer();
    expect((await call(victim, "GET", `/v1/terminals/${victim.id}/settings`)).body.waiting).toEqual({ bytes: 1000, uploading: 1000 });

    // anyone else still sends to the victim, and the victim receives it, byte for byte
    const socket = await LiveSocket.open(server.base, victim);
    const data = Buffer.from("still reachable\n".repeat(1000));
    const sent = await fetch(`${server.base}/v1/send/${victim.id}/hello.txt`, {
      method: "PUT",
      headers: { ...friend.auth, "content-length": String(data.byteLength) },
      body: data,
    });
    expect(sent.status).toBe(201);
    const transferId = ((await sent.json()) as { id: string }).id;
    const ready = await socket.next((m) => m.type === "transfer.ready" && m.transfer.id === transferId);
    socket.ack(ready.id);
    const file = await fetch(ready.transfer.files[0].downloadUrl);
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer()).equals(data)).toBe(true);
    const pkg = await fetch(ready.transfer.downloadUrl);
    expect(pkg.status).toBe(200);
    expect(createHash("sha256").update(Buffer.from(await pkg.arrayBuffer())).digest("hex")).toBe(ready.transfer.package.sha256);

    // blocking the sender that uploaded releases its transfer: cancelled, and it is told
    const a3socket = await LiveSocket.open(server.base, attackers[2]!);
    expect((await call(victim, "PUT", `/v1/terminals/${victim.id}/blocked/${attackers[2]!.id}`)).status).toBe(204);
    expect((await call(attackers[2]!, "GET", `/v1/transfers/${held[2]}`)).body.status).toBe("cancelled");
    await a3socket.next((m) => m.type === "transfer.cancelled" && m.transferId === held[2]);
    expect((await call(victim, "GET", `/v1/terminals/${victim.id}/settings`)).body.waiting).toEqual({ bytes: 0, uploading: 0 });

    // accept: known releases the other strangers' declarations too (the friend is not a contact either)
    expect((await call(victim, "PATCH", `/v1/terminals/${victim.id}/settings`, { accept: "known" })).status).toBe(200);
    for (const [i, id] of held.slice(0, 2).entries()) {
      expect((await call(attackers[i]!, "GET", `/v1/transfers/${id}`)).body.status).toBe("cancelled");
    }
    // what the victim already downloaded is its own: the friend's transfer is delivered, not released
    expect((await call(friend, "GET", `/v1/transfers/${transferId}`)).body.status).toBe("delivered");
    await Promise.all([socket.close(), a3socket.close()]);
  });

  it("a block releases 50 transfers in its request; the sweep of npm start releases the rest", async () => {
    const victim = await register(server.base, "Victim2");
    const pest = await register(server.base, "Pest");
    const ids: string[] = [];
    // 56 transfers, oldest first: notes (never acknowledged, so held) and declarations in turn;
    // the newest 6 (3 of them declarations) are past what the block's request releases
    for (let i = 0; i < 56; i++) {
      if (i % 2 === 0) {
        expect((await call(pest, "POST", "/v1/transfers", { to: [victim.id], files: [], message: `note ${i}` })).status).toBe(201);
      } else {
        const res = await declare(pest, [victim], [{ name: `f${i}`, size: 100 * 1024 ** 2 }]);
        expect(res.status).toBe(201);
        ids.push(res.body.id);
      }
    }
    const statuses = async (of: string[]) => (await Promise.all(of.map((id) => call(pest, "GET", `/v1/transfers/${id}`)))).map((r) => r.body.status);
    expect(new Set(await statuses(ids))).toEqual(new Set(["uploading"]));
    expect((await call(victim, "PUT", `/v1/terminals/${victim.id}/blocked/${pest.id}`)).status).toBe(204);
    // the newest ones wait for the sweep (every 2 s here); polled gently (the pest has a request budget too)
    const deadline = Date.now() + 60_000;
    while ((await statuses(ids.slice(-3))).some((s) => s !== "cancelled")) {
      if (Date.now() > deadline) throw new Error(`not all released: ${JSON.stringify(await statuses(ids.slice(-3)))}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    expect(new Set(await statuses(ids))).toEqual(new Set(["cancelled"]));
    const inbox = await call(victim, "GET", `/v1/terminals/${victim.id}/inbox`);
    expect(inbox.body.transfers).toEqual([]);
  });
});
