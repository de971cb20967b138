import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import worker from "../../src/index";
import { PART_SIZE } from "../../src/config";
import { STALLED_PACKAGING_MS, sweep } from "../../src/expire";
import { frameKey, partKey } from "../../src/store/keys";
import {
  api,
  bigBytes,
  bytes,
  createTransfer,
  env,
  eventually,
  getTransfer,
  json,
  outboxOf,
  putFile,
  register,
  sendFiles,
  stageTransfer,
  transferRow as row,
  waitForStatus,
  type TestTerminal,
} from "./helpers";

const HOUR = 3600_000;
let alice: TestTerminal;
let bob: TestTerminal;
let carol: TestTerminal;

beforeAll(async () => {
  [alice, bob, carol] = await Promise.all([register("Alice"), register("Bob"), register("Carol")]);
});

const endMessages = async (who: TestTerminal, id: string) =>
  (await outboxOf(who.id)).filter((r) => r.transfer_id === id && (r.type === "transfer.expired" || r.type === "transfer.cancelled"));
const inboxIds = async (who: TestTerminal) =>
  (await json(await api(`/v1/terminals/${who.id}/inbox`, { headers: who.auth }))).transfers.map((t: any) => t.id);
const backdate = (id: string, ms = Date.now() - 1000) =>
  env.DB.prepare("UPDATE transfers SET expires_at = ? WHERE id = ?").bind(ms, id).run();

describe("a transfer past its expiry, before the sweep", () => {
  it("reads as expired, answers 410, leaves the inbox and refuses uploads", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "soon.txt", data: bytes(100) }]);
    const link = new URL((await getTransfer(bob, t.id)).downloadUrl);
    expect(await inboxIds(bob)).toContain(t.id);
    await backdate(t.id);
    expect((await getTransfer(bob, t.id)).status).toBe("expired");
    expect((await getTransfer(bob, t.id)).downloadUrl).toBeNull();
    for (const res of [
      await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth }),
      await api(`/v1/transfers/${t.id}/files/0`, { headers: bob.auth }),
    ]) {
      expect(res.status).toBe(410);
      expect((await json(res)).error.code).toBe("transfer_expired");
    }
    // the signed link expired with it (its exp was capped at the transfer's expiry)
    const viaLink = await api(link.pathname + link.search);
    expect(viaLink.status).toBe(410);
    expect(await inboxIds(bob)).not.toContain(t.id);

    const u = await json(await createTransfer(alice, { to: [bob.id], files: [{ name: "late.txt", size: 5 }] }));
    await backdate(u.id);
    const put = await putFile(alice, u.id, 0, bytes(5));
    expect(put.status).toBe(410);
    expect((await json(put)).error.code).toBe("transfer_expired");
  });
});

describe("DELETE of a transfer that expired before the sweep came", () => {
  it("is 204, leaves it expired, removes its objects, and tells the terminals once (the sweep no more)", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "gone.txt", data: bytes(100) }], { expiresIn: 3600 });
    await eventually(async () => ((await outboxOf(bob.id)).some((r) => r.transfer_id === t.id) ? true : undefined));
    await backdate(t.id);
    const del = await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth });
    expect(del.status).toBe(204);
    expect((await row(t.id)).status).toBe("expired");
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
    for (const who of [alice, bob]) {
      expect((await endMessages(who, t.id)).map((m) => m.type), who.name).toEqual(["transfer.expired"]);
    }
    expect((await outboxOf(bob.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.ready" && r.acked_at === null)).toEqual([]);
    await sweep(env, Date.now() + 2 * HOUR);
    expect(await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth }).then((r) => r.status)).toBe(204);
    for (const who of [alice, bob]) expect(await endMessages(who, t.id), who.name).toHaveLength(1);
  });
});

describe("the cron sweep", () => {
  it("removes packages and uploaded parts, marks expired and tells the terminals", async () => {
    const now = Date.now();
    // ready, not downloaded
    const ready = await sendFiles(alice, [bob, carol], [{ name: "r.txt", data: bytes(1000) }], { expiresIn: 3600 });
    await eventually(async () => ((await outboxOf(bob.id)).some((r) => r.transfer_id === ready.id) ? true : undefined));
    // delivered (bob downloaded it)
    const delivered = await sendFiles(alice, [bob], [{ name: "d.txt", data: bytes(10) }], { expiresIn: 3600 });
    await (await api(`/v1/transfers/${delivered.id}/package`, { headers: bob.auth })).arrayBuffer();
    await waitForStatus(alice, delivered.id, "delivered");
    // abandoned half way: one file whole, one part of a multipart file
    const partial = await json(
      await createTransfer(alice, { to: [bob.id], files: [{ name: "a.bin", size: 100 }, { name: "b.bin", size: PART_SIZE + 1 }], expiresIn: 3600 }),
    );
    expect((await putFile(alice, partial.id, 0, bytes(100))).status).toBe(200);
    expect((await putFile(alice, partial.id, 1, bigBytes(PART_SIZE, 3), 1)).status).toBe(200);
    // not due yet (24 h)
    const later = await sendFiles(alice, [bob], [{ name: "l.txt", data: bytes(10) }]);

    expect(await env.BUCKET.head(frameKey(ready.id))).not.toBeNull();
    expect((await env.BUCKET.list({ prefix: `uploads/${partial.id}/` })).objects).toHaveLength(2);

    const swept = await sweep(env, now + 2 * HOUR);
    expect(swept).toBeGreaterThanOrEqual(3);

    // R2: nothing left of the due transfers
    expect(await env.BUCKET.head(frameKey(ready.id))).toBeNull();
    expect(await env.BUCKET.head(frameKey(delivered.id))).toBeNull();
    for (const id of [ready.id, delivered.id, partial.id]) {
      expect((await env.BUCKET.list({ prefix: `uploads/${id}/` })).objects).toEqual([]);
    }
    // …and the one not due is untouched
    expect(await env.BUCKET.head(frameKey(later.id))).not.toBeNull();
    expect((await row(later.id)).purged_at).toBeNull();

    // D1: end states, purge time
    for (const [id, status] of [[ready.id, "expired"], [partial.id, "expired"], [delivered.id, "delivered"]] as const) {
      const r = await row(id);
      expect(r.status, id).toBe(status);
      expect(r.purged_at, id).not.toBeNull();
    }
    expect((await getTransfer(bob, ready.id)).status).toBe("expired");

    // the terminals concerned are told, once; the pending ready is withdrawn
    for (const who of [alice, bob, carol]) {
      const msgs = await endMessages(who, ready.id);
      expect(msgs.map((m) => m.body), who.name).toEqual([{ type: "transfer.expired", id: `${ready.id}.expired`, transferId: ready.id }]);
    }
    for (const who of [bob, carol]) {
      const pendingReady = (await outboxOf(who.id)).filter((r) => r.transfer_id === ready.id && r.type === "transfer.ready" && r.acked_at === null);
      expect(pendingReady).toEqual([]);
    }
    // the sender hears about the abandoned upload; the recipient never heard of it, and is not told
    expect((await endMessages(alice, partial.id)).map((m) => m.type)).toEqual(["transfer.expired"]);
    expect(await endMessages(bob, partial.id)).toEqual([]);
    // a delivered transfer simply goes: no expiry notice
    expect(await endMessages(alice, delivered.id)).toEqual([]);

    // downloads are gone for good
    for (const id of [ready.id, delivered.id]) {
      const res = await api(`/v1/transfers/${id}/package`, { headers: bob.auth });
      expect(res.status).toBe(410);
    }
    expect(await inboxIds(bob)).not.toContain(ready.id);
    expect(await inboxIds(bob)).not.toContain(delivered.id);
    expect(await inboxIds(bob)).toContain(later.id);

    // a second pass finds nothing and tells nobody twice
    expect(await sweep(env, now + 2 * HOUR)).toBe(0);
    expect(await endMessages(bob, ready.id)).toHaveLength(1);
    expect(await endMessages(alice, ready.id)).toHaveLength(1);
  });

  it("removes part objects no row names (what an interrupted upload left behind)", async () => {
    const t = await json(await createTransfer(alice, { to: [bob.id], files: [{ name: "p.txt", size: 3 }] }));
    await env.BUCKET.put(partKey(t.id, 0, 1, "orphan"), bytes(3));
    await backdate(t.id);
    await sweep(env);
    expect((await env.BUCKET.list({ prefix: `uploads/${t.id}/` })).objects).toEqual([]);
    expect((await row(t.id)).status).toBe("expired");
  });

  it("runs from the scheduled() entry point", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "cron.txt", data: bytes(10) }], { expiresIn: 60 });
    await backdate(t.id);
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "*/5 * * * *", scheduledTime: Date.now() }), env, ctx);
    await waitOnExecutionContext(ctx);
    const r = await row(t.id);
    expect(r.status).toBe("expired");
    expect(r.purged_at).not.toBeNull();
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
    expect((await endMessages(bob, t.id)).map((m) => m.type)).toEqual(["transfer.expired"]);
  });

  it("re-queues a transfer whose packaging job was lost", async () => {
    // all bytes in, status packaging, but no queue message (as if the send had failed)
    const long = Date.now() - STALLED_PACKAGING_MS - 60_000;
    const t = await stageTransfer(alice, [bob], [{ name: "lost.txt", data: bytes(7) }], { completedAt: long });
    await sweep(env);
    const ready = await waitForStatus(alice, t.id);
    expect(ready.package).not.toBeNull();
  });

  it("re-queues a transfer whose packaging lease ran out (its holder died), and leaves one with a live lease alone", async () => {
    const long = Date.now() - STALLED_PACKAGING_MS - 60_000;
    /** A transfer in packaging whose packaging attempt holds (or held) the lease. */
    const halfPackaged = async (name: string, leaseUntil: number) => {
      const t = await stageTransfer(alice, [bob], [{ name, data: bytes(9) }], { completedAt: long });
      await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(leaseUntil, t.id).run();
      return { id: t.id as string };
    };
    const dead = await halfPackaged("dead.txt", Date.now() - 60_000);
    const live = await halfPackaged("live.txt", Date.now() + 5 * 60_000);

    const sent: string[] = [];
    const jobs = { send: (job: { transferId: string }, opts?: QueueSendOptions) => (sent.push(job.transferId), env.JOBS.send(job, opts)) };
    await sweep({ ...env, JOBS: jobs } as unknown as Env);
    expect(sent).toContain(dead.id);
    expect(sent).not.toContain(live.id);

    // the new job takes the expired lease over: package made, lease cleared
    const ready = await waitForStatus(alice, dead.id);
    expect(ready.package).not.toBeNull();
    expect((await row(dead.id)).package_lease_until).toBeNull();
    // the live holder is left to its work
    const r = await row(live.id);
    expect(r.status).toBe("packaging");
    expect(await env.BUCKET.head(frameKey(live.id))).toBeNull();
  });
});
