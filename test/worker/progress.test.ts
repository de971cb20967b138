import { describe, expect, it } from "vitest";
import { CHECKPOINT_BYTES, recordAhead } from "../../src/deliver/progress";
import { api, bigBytes, createTransfer, env, eventually, getTransfer, json, putFile, register, sha256, waitForStatus } from "./helpers";

/**
 * A download's progress is recorded ahead of the bytes once a response has sent 16 MiB, so
 * that a client resuming after the process died mid-response still gets its download counted.
 */

describe("recordAhead", () => {
  it("covers each piece before it goes out, ever further ahead; never within the first step, never the last byte", async () => {
    const got: number[] = [];
    const check = recordAhead(async (n) => void got.push(n), 100, 10, 40);
    for (let sent = 0; sent < 100; sent += 4) await check(sent, Math.min(4, 100 - sent));
    // from the piece that starts past the first step (12→16): each record reaches as far
    // again as the response has sent (at most 40 more), and the next one starts once less
    // than a step lies recorded beyond a piece, so records grow rarer as it goes
    expect(got).toEqual([24, 32, 48, 80, 99]);
    const small: number[] = [];
    const peek = recordAhead(async (n) => void small.push(n), 9, 10);
    for (let sent = 0; sent < 9; sent += 3) await peek(sent, 3);
    expect(small).toEqual([]);
  });

  it("starts the next record while a piece goes out, and holds a piece only for the record that covers it", async () => {
    const asked: number[] = [];
    const done = new Map<number, () => void>();
    const check = recordAhead((n) => {
      asked.push(n);
      return new Promise<void>((resolve) => done.set(n, resolve));
    }, 1000, 10, 400);
    const settled = async (p: Promise<void>) => {
      let over = false;
      void p.then(() => (over = true));
      await new Promise((r) => setTimeout(r, 0)); // (every promise that could settle has)
      return over;
    };
    // piece 10→20: needs a record (to 20), and the next one (to 40) starts at once
    const first = check(10, 10);
    expect(asked).toEqual([20, 40]);
    expect(await settled(first)).toBe(false); // held until its own record is durable
    done.get(20)!();
    expect(await settled(first)).toBe(true); // not held for the next one
    // piece 20→30 is covered by the record to 40: it waits for that one, started a piece ago
    const second = check(20, 10);
    expect(await settled(second)).toBe(false);
    done.get(40)!();
    expect(await settled(second)).toBe(true);
    // piece 30→40: covered, and less than a step beyond it: the record to 80 starts now
    await check(30, 10);
    expect(asked).toEqual([20, 40, 80]);
  });

  it("a failed record does not stop the bytes", async () => {
    let calls = 0;
    const check = recordAhead(async () => {
      calls++;
      throw new Error("D1 is away");
    }, 100, 10);
    // past the first step, so the record is attempted (and fails), and so is the next one,
    // started ahead; neither stops the piece
    await expect(check(12, 4)).resolves.toBeUndefined();
    expect(calls).toBe(2);
  });
});

describe("a download's progress is durable before its bytes leave", () => {
  it("mid-response, the recorded prefix already covers every byte the client has; a resume from there counts", async () => {
    const alice = await register();
    const bob = await register();
    const data = bigBytes(2 * CHECKPOINT_BYTES + 5_000_000, 77);
    const created = await json(await createTransfer(alice, { to: [bob.id], files: [{ name: "big.bin", size: data.byteLength }] }));
    const partSize = created.files[0].partSize;
    for (let p = 1; p <= created.files[0].parts; p++) {
      const res = await putFile(alice, created.id, 0, data.subarray((p - 1) * partSize, p * partSize), p);
      expect(res.status).toBe(200);
    }
    const t = await waitForStatus(alice, created.id);
    const res = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    const reader = res.body!.getReader();
    const chunks: Uint8Array[] = [];
    let got = 0;
    while (got < CHECKPOINT_BYTES + 4_000_000) {
      const { value, done } = await reader.read();
      if (done) throw new Error("ended early");
      chunks.push(value);
      got += value.byteLength;
    }
    const served = async () =>
      (await env.DB.prepare("SELECT served_to FROM served WHERE transfer_id = ? AND terminal_id = ? AND idx = 0").bind(t.id, bob.id).first<number>("served_to"))!;
    const dataOffset = (await env.DB.prepare("SELECT data_offset FROM transfer_files WHERE transfer_id = ?").bind(t.id).first<number>("data_offset"))!;
    // the response is still open: what is recorded is what a crash now would leave behind
    expect(dataOffset + (await served())).toBeGreaterThanOrEqual(got);
    const has = await env.DB.prepare("SELECT has_to FROM served WHERE transfer_id = ? AND terminal_id = ?").bind(t.id, bob.id).first<number>("has_to");
    expect(has).toBeLessThan(data.byteLength);
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    await reader.cancel();
    // resume from exactly what the client has (as after a crash)
    const rest = await api(`/v1/transfers/${t.id}/package`, { headers: { ...bob.auth, range: `bytes=${got}-` } });
    expect(rest.status).toBe(206);
    const tail = new Uint8Array(await rest.arrayBuffer());
    const all = new Uint8Array(got + tail.byteLength);
    let o = 0;
    for (const c of [...chunks, tail]) {
      all.set(c, o);
      o += c.byteLength;
    }
    expect(await sha256(all)).toBe(t.package.sha256);
    const done = await eventually(async () => {
      const x = await getTransfer(alice, t.id);
      return x.status === "delivered" ? x : undefined;
    });
    expect(done.downloads).toBe(1);
  });
});
