import { abortAllDurableObjects, runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import type { ServerMessage } from "../../src/contract";
import { Terminal } from "../../src/notify/terminal";
import {
  api,
  bytes,
  createTransfer,
  env,
  eventually,
  getTransfer,
  json,
  openSocket,
  outboxOf,
  putFile,
  register,
  terminalStub,
  waitForStatus,
  type TestTerminal,
} from "./helpers";

const msg = (id: string, transferId = "T".repeat(22)): ServerMessage => ({ type: "transfer.expired", id, transferId });
const deliver = (t: TestTerminal, m: ServerMessage, expiresAt: number | null = null) =>
  terminalStub(t.id).enqueue(t.id, m, { transferId: "transferId" in m ? m.transferId : null, expiresAt });
const acked = async (t: TestTerminal, id: string) => (await outboxOf(t.id)).find((r) => r.id === id)?.acked_at ?? null;
const waitAcked = (t: TestTerminal, id: string) => eventually(async () => ((await acked(t, id)) !== null ? true : undefined), 5000, `ack of ${id}`);

describe("the Terminal DO outbox", () => {
  let t: TestTerminal;
  beforeAll(async () => {
    t = await register("Outbox");
  });

  it("queues until ack, replays oldest first on connect, no duplicate after ack", async () => {
    for (const id of ["m1", "m2", "m3"]) expect((await deliver(t, msg(id))).queued).toBe(true);
    expect(await terminalStub(t.id).pendingCount()).toBe(3);
    expect((await outboxOf(t.id)).map((r) => r.id)).toEqual(["m1", "m2", "m3"]);

    let c = await openSocket(t);
    expect((await c.take(3)).map((f) => f.id)).toEqual(["m1", "m2", "m3"]);
    await c.quiet();
    c.ack("m1");
    await waitAcked(t, "m1");
    // an ack of an unknown or already acknowledged id is harmless
    c.ack("nope");
    c.ack("m1");
    c.close();

    c = await openSocket(t);
    expect((await c.take(2)).map((f) => f.id)).toEqual(["m2", "m3"]);
    await c.quiet();
    // a message delivered while connected arrives at once
    expect((await deliver(t, msg("m4"))).sockets).toBe(1);
    expect((await c.take(1))[0]).toEqual(msg("m4"));
    await c.quiet();
    c.close();
    expect(await terminalStub(t.id).pendingCount()).toBe(3);
    expect((await outboxOf(t.id)).map((r) => [r.id, r.acked_at !== null])).toEqual([
      ["m1", true],
      ["m2", false],
      ["m3", false],
      ["m4", false],
    ]);
  });

  it("enqueue is idempotent by id: the same message again is neither queued nor sent again", async () => {
    const w = await register("Idempotent");
    expect((await deliver(w, msg("i1"))).queued).toBe(true);
    expect((await deliver(w, msg("i2"))).queued).toBe(true);
    const c = await openSocket(w);
    expect((await c.take(2)).map((f) => f.id)).toEqual(["i1", "i2"]);
    c.ack("i1");
    await waitAcked(w, "i1");
    // a producer that runs twice (at-least-once queues, the cron) delivers the same ids again
    expect((await deliver(w, msg("i2"))).queued).toBe(false); // still pending
    expect((await deliver(w, msg("i1"))).queued).toBe(false); // acknowledged
    await c.quiet(300); // no duplicate frame on the open socket
    expect((await outboxOf(w.id)).map((r) => r.id)).toEqual(["i1", "i2"]);
    c.close();
  });

  it("survives eviction: the outbox is in storage, replayed after the object is rebuilt", async () => {
    const u = await register("Evicted");
    for (const id of ["e1", "e2", "e3"]) await deliver(u, msg(id));
    let c = await openSocket(u);
    expect((await c.take(3)).map((f) => f.id)).toEqual(["e1", "e2", "e3"]);
    c.ack("e2");
    await waitAcked(u, "e2");

    // a fresh instance of the class on the same storage sees the same outbox
    const seen = await runInDurableObject(terminalStub(u.id), async (_instance, state) => {
      const fresh = new Terminal(state, env);
      return fresh.pendingCount();
    });
    expect(seen).toBe(2);

    // evict every object (in-memory state gone, storage kept), then use a new stub
    await abortAllDurableObjects();
    // (whether the eviction closes the client's end is not the point here: close it ourselves)
    c.close();
    expect(await terminalStub(u.id).pendingCount()).toBe(2);
    c = await openSocket(u);
    expect((await c.take(2)).map((f) => f.id)).toEqual(["e1", "e3"]);
    await c.quiet();
    c.ack("e1");
    await waitAcked(u, "e1");
    c.close();

    await abortAllDurableObjects();
    c = await openSocket(u);
    expect((await c.take(1)).map((f) => f.id)).toEqual(["e3"]);
    await c.quiet();
    c.ack("e3");
    await waitAcked(u, "e3");
    c.close();
    await abortAllDurableObjects();
    expect(await terminalStub(u.id).pendingCount()).toBe(0);
  });

  it("sends to every open socket of the terminal; an expired message is not replayed", async () => {
    const v = await register("Two sockets");
    const a = await openSocket(v);
    const b = await openSocket(v, "header");
    expect((await deliver(v, msg("both"))).sockets).toBe(2);
    expect((await a.take(1))[0].id).toBe("both");
    expect((await b.take(1))[0].id).toBe("both");
    // acked on one socket: the other does not get it again on reconnect
    a.ack("both");
    await waitAcked(v, "both");
    a.close();
    b.close();
    await deliver(v, msg("stale"), Date.now() - 1);
    await deliver(v, msg("fresh"), Date.now() + 60_000);
    const c = await openSocket(v);
    expect((await c.take(1)).map((f) => f.id)).toEqual(["fresh"]);
    await c.quiet();
    c.close();
  });
});

describe("the live channel", () => {
  let t: TestTerminal;
  let other: TestTerminal;
  beforeAll(async () => {
    t = await register("Live");
    other = await register("Other");
  });

  it("needs the terminal's own token: none or wrong → 401, another terminal's → 403, no upgrade → 426", async () => {
    const path = `/v1/terminals/${t.id}/socket`;
    let res = await api(path, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(401);
    expect(res.webSocket).toBeNull();
    res = await api(`${path}?token=pd_${"x".repeat(43)}`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(401);
    expect((await json(res)).error.code).toBe("unauthorized");
    res = await api(`${path}?token=${other.token}`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(403);
    expect((await json(res)).error.code).toBe("forbidden");
    res = await api(`${path}?token=${t.token}`);
    expect(res.status).toBe(426);
    expect((await json(res)).error.code).toBe("upgrade_required");
  });

  it("answers pings (the text frame and the JSON one) and bad frames, and stays open", async () => {
    const c = await openSocket(t);
    c.send("ping");
    expect(await c.take(1)).toEqual(["pong"]);
    c.send({ type: "ping" });
    expect(await c.take(1)).toEqual([{ type: "pong" }]);
    c.send("{not json");
    expect((await c.take(1))[0]).toMatchObject({ type: "error", error: { code: "invalid_json" } });
    c.send({ type: "subscribe" });
    expect((await c.take(1))[0]).toMatchObject({ type: "error", error: { code: "invalid_message" } });
    c.send("x".repeat(5000));
    expect((await c.take(1))[0]).toMatchObject({ type: "error", error: { code: "frame_too_large" } });
    await deliver(t, msg("after-errors"));
    expect((await c.take(1))[0].id).toBe("after-errors");
    expect(c.isClosed()).toBe(false);
    c.close();
  });

  it("a real transfer: a connected recipient gets transfer.ready live, notifiedAt is recorded; a later one on connect", async () => {
    const alice = await register("Alice");
    const bob = await register("Bob");
    const carol = await register("Carol");
    const b = await openSocket(bob);
    const created = await json(await createTransfer(alice, { to: [bob.id, carol.id], files: [{ name: "hi.txt", size: 4 }], message: "hi" }));
    expect((await putFile(alice, created.id, 0, bytes(4))).status).toBe(200);
    const [ready] = await b.take(1, 15_000);
    expect(ready.type).toBe("transfer.ready");
    expect(ready.id).toBe(`${created.id}.ready`);
    expect(ready.transfer.id).toBe(created.id);
    expect(ready.transfer.status).toBe("ready");
    expect(ready.transfer.message).toBe("hi");
    expect(ready.transfer.from).toEqual({ id: alice.id, name: "Alice" });
    // its links are bob's own, and work
    expect(new URL(ready.transfer.downloadUrl).searchParams.get("r")).toBe(bob.id);
    const u = new URL(ready.transfer.files[0].downloadUrl);
    const file = await api(u.pathname + u.search);
    expect(file.status).toBe(200);
    expect(new Uint8Array(await file.arrayBuffer())).toEqual(bytes(4));

    await waitForStatus(alice, created.id);
    let seen = await eventually(async () => {
      const x = await getTransfer(alice, created.id);
      return x.recipients[0].notifiedAt ? x : undefined;
    });
    expect(seen.recipients[0]).toMatchObject({ id: bob.id, channel: "socket" });
    expect(seen.recipients[1]).toMatchObject({ id: carol.id, notifiedAt: null, channel: null });

    // carol was away: on connect she gets it, and is then counted as notified
    const c = await openSocket(carol);
    const [late] = await c.take(1);
    expect(late.id).toBe(`${created.id}.ready`);
    expect(new URL(late.transfer.downloadUrl).searchParams.get("r")).toBe(carol.id);
    seen = await eventually(async () => {
      const x = await getTransfer(alice, created.id);
      return x.recipients[1].notifiedAt ? x : undefined;
    });
    expect(seen.recipients[1].channel).toBe("socket");
    // the ready message stays until acknowledged
    c.close();
    const again = await openSocket(carol);
    expect((await again.take(1))[0].id).toBe(`${created.id}.ready`);
    again.ack(`${created.id}.ready`);
    await waitAcked(carol, `${created.id}.ready`);
    again.close();
    b.close();
  });
});
