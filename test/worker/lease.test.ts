import { describe, expect, it } from "vitest";
import { STALLED_PACKAGING_MS, sweep } from "../../src/expire";
import { keepLease, LEASE_RENEW_MS, PACKAGE_LEASE_MS } from "../../src/package/lease";
import { unzipSync } from "fflate";
import { frameKey } from "../../src/store/keys";
import { api, bytes, env, eventually, register, sha256, stageTransfer, transferRow, waitForStatus } from "./helpers";

/**
 * Crash recovery of packaging: the lease is short and renewed while the work goes on, so a
 * holder that died is noticed within PACKAGE_LEASE_MS, and the sweep queues its job again.
 */

describe("the packaging lease", () => {
  it("is short, renewed several times within its life, and a lost job is re-queued soon", () => {
    expect(PACKAGE_LEASE_MS).toBeLessThanOrEqual(60_000);
    expect(LEASE_RENEW_MS * 3).toBeLessThanOrEqual(PACKAGE_LEASE_MS);
    expect(STALLED_PACKAGING_MS).toBeLessThanOrEqual(60_000);
  });

  it("keepLease pushes the lease's end forward until stopped, and gives up once the lease is not its own", async () => {
    const a = await register();
    const b = await register();
    const t = await stageTransfer(a, [b], [{ name: "x.txt", data: bytes(10) }]);
    const first = Date.now() + 300;
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(first, t.id).run();
    const held = keepLease(env, t.id, first, 300, 50);
    await eventually(async () => (held.current() > first + 100 ? true : undefined), 5000, "a renewal");
    held.stop();
    const stopped = held.current();
    expect((await transferRow(t.id)).package_lease_until).toBe(stopped);
    await new Promise((r) => setTimeout(r, 200));
    expect((await transferRow(t.id)).package_lease_until).toBe(stopped);

    // another attempt took the lease over: the old holder's renewals change nothing
    const old = keepLease(env, t.id, stopped, 300, 50);
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(stopped + 1_000_000, t.id).run();
    await new Promise((r) => setTimeout(r, 200));
    old.stop();
    expect((await transferRow(t.id)).package_lease_until).toBe(stopped + 1_000_000);
  });

  it("a holder that died (its lease ran out) is replaced at the next sweep, and the transfer gets ready", async () => {
    const a = await register();
    const b = await register();
    const t = await stageTransfer(a, [b], [{ name: "y.txt", data: bytes(1000) }], { completedAt: Date.now() - STALLED_PACKAGING_MS - 1000 });
    // as a killed process leaves it: a lease that has run out, and a frame written but never
    // recorded (the holder died between putObject and finishPackaging), here a wrong one
    await env.BUCKET.put(frameKey(t.id), new Uint8Array(64).fill(0xee));
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(Date.now() - 1, t.id).run();
    await sweep(env);
    const ready = await waitForStatus(a, t.id, "ready");
    expect(ready.package).not.toBeNull();
    expect((await transferRow(t.id)).package_lease_until).toBeNull();
    // the new holder wrote its own frame over the stale one: the package is whole and says what was sent
    const frame = await env.BUCKET.get(frameKey(t.id));
    expect(new Uint8Array(await frame!.arrayBuffer()).every((x) => x === 0xee)).toBe(false);
    const pkg = await api(`/v1/transfers/${t.id}/package`, { headers: b.auth });
    expect(pkg.status).toBe(200);
    const zip = new Uint8Array(await pkg.arrayBuffer());
    expect(await sha256(zip)).toBe(ready.package.sha256);
    expect([...unzipSync(zip)["y.txt"]!]).toEqual([...bytes(1000)]);
  });
});
