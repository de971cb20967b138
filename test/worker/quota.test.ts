import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { releaseHeld, releaseRefused } from "../../src/auth/withdraw";
import { REFUSED_HELD } from "../../src/store/quotas";
import { LIMIT_DEFAULTS } from "../../src/limits/config";
import { recordPart } from "../../src/store/transfers";
import { GiB } from "../../src/config";
import { fitsInbox, quotaStep, roundedReceived } from "../../src/limits/quotas";
import {
  api,
  bytes,
  countRows,
  env,
  eventually,
  getTransfer,
  json,
  outboxOf,
  register,
  sendFiles,
  transferRow,
  uploadedKeys,
  type TestTerminal,
} from "./helpers";
import { call, create, put } from "./support-limits";

/**
 * Issue 21, items 1 and 6: nobody can jam an inbox with declarations, nor learn exactly what
 * waits for someone else. A recipient's quota counts the bytes really received for it; a
 * sender's own declarations count against its share of that recipient; another party's bytes
 * are compared only rounded up to a step; blocking a sender, or taking transfers from contacts
 * only, releases what they hold; the recipient sees what waits for it. The worker runs here
 * with the limits of each test (the same app, another env), as an operator would set them.
 */

const settings = async (t: TestTerminal) => json(await call({}, `/v1/terminals/${t.id}/settings`, { headers: t.auth }));
const block = (r: TestTerminal, s: TestTerminal) => call({}, `/v1/terminals/${r.id}/blocked/${s.id}`, { method: "PUT", headers: r.auth });

async function expectInboxFull(res: Response, limit: string, max: number, recipients: string[]) {
  expect(res.status).toBe(413);
  const err = (await json(res)).error;
  expect(err.code).toBe("inbox_full");
  expect(err.details).toEqual({ limit, max, recipients });
  return err;
}

/** Downloads a ready transfer's whole package as `r`, and waits until it counts. */
async function download(r: TestTerminal, id: string) {
  // (through the worker's own fetch: a download's waitUntil ends only once its body is read)
  const res = await api(`/v1/transfers/${id}/package`, { headers: r.auth });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
  await eventually(async () => ((await getTransfer(r, id)).recipients.find((x: any) => x.id === r.id)?.downloadedAt ? true : undefined));
}

/** The defaults of wrangler.toml, as strings (the tests' own env lifts the size limits). */
const DEFAULTS = Object.fromEntries(Object.entries(LIMIT_DEFAULTS).map(([k, v]) => [k, String(v)]));

describe("the rounding (pure)", () => {
  it("the step is 1 GiB with the default limit, a 50th of a small one, never 0", () => {
    expect(quotaStep(LIMIT_DEFAULTS.LIMIT_PENDING_BYTES_PER_RECIPIENT)).toBe(GiB);
    expect(quotaStep(500 * GiB)).toBe(GiB);
    expect(quotaStep(1000)).toBe(20);
    expect(quotaStep(10)).toBe(1);
    expect(roundedReceived(0, 1000)).toBe(0);
    expect(roundedReceived(1, 1000)).toBe(20);
    expect(roundedReceived(20, 1000)).toBe(20);
    expect(roundedReceived(21, 1000)).toBe(40);
  });

  it("property: the decision depends on the rounded total only, and never lets the inbox overfill", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 ** 40 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 2 ** 41 }),
        fc.boolean(),
        (limit, a, b, anySize, nearEdge) => {
          const step = quotaStep(limit);
          // two totals in the same step: every size gets the same answer for both
          const bucket = Math.floor((a * limit) / step);
          const lo = bucket * step + 1;
          const hi = Math.max(lo, Math.min((bucket + 1) * step, lo + Math.floor(b * step)));
          // half the time a size where the answer could tell lo from hi, if anything could
          const size = nearEdge ? Math.max(0, limit - lo - (anySize % (step + 1))) : anySize;
          expect(fitsInbox(lo, size, limit)).toBe(fitsInbox(hi, size, limit));
          // what fits, fits for real (nothing, a message without files, always fits)
          if (size > 0 && fitsInbox(lo, size, limit)) expect(lo + size).toBeLessThanOrEqual(limit);
          if (size > 0 && fitsInbox(hi, size, limit)) expect(hi + size).toBeLessThanOrEqual(limit);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("the check made again when a part is recorded (SQL) decides as fitsInbox does", () => {
  it("property: for any bytes received, part size and limit, recordPart records the part exactly when fitsInbox says it fits, and says which inbox was full when not", async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        // sizes at and around the edge the rounded total puts (where an exact or a float sum would differ)
        fc
          .integer({ min: 1, max: 2 ** 40 })
          .chain((max) => fc.tuple(fc.constant(max), fc.integer({ min: 0, max }), fc.integer({ min: -quotaStep(max), max: quotaStep(max) })))
          .map(([max, received, delta]) => [max, received, Math.max(1, max - roundedReceived(received, max) + delta)] as const),
        async ([max, received, size]) => {
          const run = `q${++n}`.padEnd(21, "_");
          const [held, fresh, r] = [`${run}h`, `${run}f`, `99${String(n).padStart(7, "0")}`];
          const now = Date.now();
          const transfer = (id: string) =>
            env.DB.prepare(
              "INSERT INTO transfers (id, sender_id, sender_name, status, created_at, expires_at, total_size) VALUES (?, 's', 's', 'uploading', ?, ?, 0)",
            ).bind(id, now, now + 3_600_000);
          await env.DB.batch([
            transfer(held),
            transfer(fresh),
            env.DB.prepare("INSERT INTO transfer_files (transfer_id, idx, name, size, type, part_size) VALUES (?, 0, 'f', ?, 'x', ?)").bind(held, received, received),
            env.DB.prepare("INSERT INTO transfer_files (transfer_id, idx, name, size, type, part_size) VALUES (?, 0, 'f', ?, 'x', ?)").bind(fresh, size, size),
            env.DB.prepare("INSERT INTO recipients (transfer_id, terminal_id, position) VALUES (?, ?, 0), (?, ?, 0)").bind(held, r, fresh, r),
            env.DB.prepare("INSERT INTO file_parts (transfer_id, idx, part, size, etag, object_key) VALUES (?, 0, 1, ?, 'e', 'k')").bind(held, received),
          ]);
          const quota = { max, step: quotaStep(max) };
          const res = await recordPart(env.DB, { transfer_id: fresh, idx: 0, part: 1, size, etag: "e", object_key: "k2" }, 1, now, quota);
          const fits = fitsInbox(received, size, max);
          expect(res.recorded, `max ${max}, received ${received}, size ${size}`).toBe(fits);
          // a refusal says why, as decided in that transaction (the answer is made from it: 413, not a 409 if room opened since)
          expect(res.refused).toBe(fits ? null : "inbox_full");
          expect(res.full).toEqual(fits ? [] : [r]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a transfer that took no more parts is refused as closed, whatever its recipients' inboxes hold (full names no one)", async () => {
    const now = Date.now();
    const [held, ended, r] = ["qclosed_held_________", "qclosed_ended________", "990000001"];
    const max = 1000;
    await env.DB.batch([
      env.DB.prepare("INSERT INTO transfers (id, sender_id, sender_name, status, created_at, expires_at, total_size) VALUES (?, 's', 's', 'uploading', ?, ?, 0)").bind(held, now, now + 3_600_000),
      env.DB.prepare("INSERT INTO transfers (id, sender_id, sender_name, status, created_at, expires_at, total_size) VALUES (?, 's', 's', 'cancelled', ?, ?, 0)").bind(ended, now, now + 3_600_000),
      env.DB.prepare("INSERT INTO transfer_files (transfer_id, idx, name, size, type, part_size) VALUES (?, 0, 'f', ?, 'x', ?)").bind(held, max, max),
      env.DB.prepare("INSERT INTO transfer_files (transfer_id, idx, name, size, type, part_size) VALUES (?, 0, 'f', 10, 'x', 10)").bind(ended),
      env.DB.prepare("INSERT INTO recipients (transfer_id, terminal_id, position) VALUES (?, ?, 0), (?, ?, 0)").bind(held, r, ended, r),
      env.DB.prepare("INSERT INTO file_parts (transfer_id, idx, part, size, etag, object_key) VALUES (?, 0, 1, ?, 'e', 'k')").bind(held, max),
    ]);
    const quota = { max, step: quotaStep(max) };
    // the inbox is full (a cancelled transfer's part would not fit either): closed is the reason
    expect(fitsInbox(max, 10, max)).toBe(false);
    const res = await recordPart(env.DB, { transfer_id: ended, idx: 0, part: 1, size: 10, etag: "e", object_key: "k2" }, 1, now, quota);
    expect(res).toMatchObject({ recorded: false, refused: "closed", full: [] });
    expect(await countRows("file_parts", "transfer_id = ?", ended)).toBe(0);
  });
});

describe("the lockout as reported: declarations take no room", () => {
  it("20 + 20 + 10 GiB declared for 7 days, nothing uploaded: refused as over one sender's share; within their shares three senders' declarations still leave the inbox open to anyone", async () => {
    const victim = await register("Victim");
    const [a1, a2, a3] = [await register(), await register(), await register()];
    const GB = (n: number) => n * GiB;
    const big = { to: [victim.id], expiresIn: 604800 };
    // the report's request, as it was: one sender, 50 GiB for one recipient
    await expectInboxFull(
      await create(DEFAULTS, a1, { ...big, files: [{ name: "a", size: GB(20) }, { name: "b", size: GB(20) }, { name: "c", size: GB(10) }] }),
      "LIMIT_PENDING_BYTES_PER_SENDER",
      LIMIT_DEFAULTS.LIMIT_PENDING_BYTES_PER_SENDER,
      [victim.id],
    );
    // the same 50 GiB from three terminals, each within its share: accepted, and nothing uploaded
    for (const [who, size] of [[a1, GB(20)], [a2, GB(20)], [a3, GB(10)]] as const) {
      expect((await create(DEFAULTS, who, { ...big, files: [{ name: "x", size }] })).status).toBe(201);
    }
    // anyone else can still send, upload, and the victim receives
    const friend = await register("Friend");
    const data = bytes(3000, 7);
    const res = await create(DEFAULTS, friend, { to: [victim.id], files: [{ name: "hello.txt", size: data.byteLength }, { name: "big", size: GB(19) }] });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect((await put(DEFAULTS, friend, t.id, 0, data)).status).toBe(200);
    // the victim sees what was received for it, and that it is still uploading
    expect((await settings(victim)).waiting).toEqual({ bytes: 3000, uploading: 3000 });
    expect((await sendFiles(friend, [victim], [{ name: "b.txt", data: bytes(10) }])).status).toBe("ready");
  });

  it("one request naming 100 recipients, 20 GiB declared: each of them can still receive from anyone", async () => {
    const attacker = await register("Attacker");
    const victims: TestTerminal[] = [];
    for (let i = 0; i < 100; i++) victims.push(await register());
    const res = await create(DEFAULTS, attacker, { to: victims.map((v) => v.id), files: [{ name: "x", size: 20 * GiB }], expiresIn: 604800 });
    expect(res.status).toBe(201);
    const friend = await register();
    const many = await create(DEFAULTS, friend, { to: victims.map((v) => v.id), files: [{ name: "y", size: 20 * GiB }] });
    expect(many.status).toBe(201);
  });
});

describe("a part that would overfill the inbox: 413 inbox_full, and the transfer stays resumable", () => {
  it("refused before a byte is kept; accepted when sent again once the recipient has downloaded what waited", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "100" }; // steps of 2 bytes
    const r = await register("R");
    const early = await register();
    const late = await register();
    // declared while the inbox was empty: accepted
    const t = await json(await create(limits, late, { to: [r.id], files: [{ name: "late.bin", size: 50 }] }));
    // meanwhile another sender's 60 bytes arrive
    const first = await sendFiles(early, [r], [{ name: "first.bin", data: bytes(60, 3) }]);
    // 60 + 50 > 100: the part is refused, nothing of it is kept, the transfer is still uploading
    await expectInboxFull(await put(limits, late, t.id, 0, bytes(50, 4)), "LIMIT_PENDING_BYTES_PER_RECIPIENT", 100, [r.id]);
    const after = await getTransfer(late, t.id);
    expect(after.status).toBe("uploading");
    expect(after.files[0].partsReceived).toEqual([]);
    expect(await uploadedKeys(t.id)).toEqual([]);
    expect((await settings(r)).waiting).toEqual({ bytes: 60, uploading: 0 });
    // the recipient takes what waited: the same part now goes in, and the transfer completes
    await download(r, first.id);
    expect((await settings(r)).waiting).toEqual({ bytes: 0, uploading: 0 });
    expect((await put(limits, late, t.id, 0, bytes(50, 4))).status).toBe(200);
    await eventually(async () => ((await getTransfer(late, t.id)).status === "ready" ? true : undefined));
  });

  it("a part sent again does not count its earlier copy twice; at the limit exactly it fits", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "100" };
    const r = await register();
    const s = await register();
    const t = await json(await create(limits, s, { to: [r.id], files: [{ name: "a", size: 60 }, { name: "b", size: 40 }, { name: "c", size: 0 }] }));
    const one = await json(await create(limits, s, { to: [r.id], files: [{ name: "d", size: 1 }] }));
    expect((await put(limits, s, t.id, 0, bytes(60))).status).toBe(200);
    expect((await put(limits, s, t.id, 0, bytes(60, 2))).status).toBe(200); // replaces itself: still 60
    expect((await settings(r)).waiting).toEqual({ bytes: 60, uploading: 60 });
    expect((await put(limits, s, t.id, 1, bytes(40))).status).toBe(200); // 100: full, not over
    await expectInboxFull(await put(limits, s, one.id, 0, bytes(1)), "LIMIT_PENDING_BYTES_PER_RECIPIENT", 100, [r.id]);
    expect((await settings(r)).waiting).toEqual({ bytes: 100, uploading: 0 });
  });

  it("two parts that each fit alone, uploaded at once: one is recorded, the other is 413 (the check is made again when a part is recorded)", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "100" };
    const r = await register();
    const [s1, s2] = [await register(), await register()];
    const t1 = await json(await create(limits, s1, { to: [r.id], files: [{ name: "a", size: 60 }] }));
    const t2 = await json(await create(limits, s2, { to: [r.id], files: [{ name: "b", size: 60 }] }));
    // both requests are checked before their bodies arrive (both fit then), and their bodies end together
    const bodies: ReadableStreamDefaultController<Uint8Array>[] = [];
    const held = () => new ReadableStream<Uint8Array>({ start: (c) => void bodies.push(c) });
    const puts = [call(limits, `/v1/transfers/${t1.id}/files/0`, { method: "PUT", headers: s1.auth, body: held() }), call(limits, `/v1/transfers/${t2.id}/files/0`, { method: "PUT", headers: s2.auth, body: held() })];
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const c of bodies) {
      c.enqueue(bytes(60));
      c.close();
    }
    const answers = await Promise.all(puts);
    expect(answers.map((a) => a.status).sort()).toEqual([200, 413]);
    const refused = answers.find((a) => a.status === 413)!;
    expect((await json(refused)).error).toMatchObject({ code: "inbox_full", details: { limit: "LIMIT_PENDING_BYTES_PER_RECIPIENT", max: 100, recipients: [r.id] } });
    expect((await settings(r)).waiting.bytes).toBe(60);
    // the refused body left nothing behind
    const keys = [...(await uploadedKeys(t1.id)), ...(await uploadedKeys(t2.id))];
    expect(keys).toHaveLength(1);
  });

  it("the one-shot send too: refused whole, nothing left behind", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "100" };
    const r = await register();
    const s = await register();
    await sendFiles(s, [r], [{ name: "a", data: bytes(90) }]);
    const before = await countRows("transfers");
    const res = await call(limits, `/v1/send/${r.id}/b.bin`, { method: "PUT", headers: { ...s.auth, "content-length": "20" }, body: bytes(20) });
    await expectInboxFull(res, "LIMIT_PENDING_BYTES_PER_RECIPIENT", 100, [r.id]);
    expect(await countRows("transfers")).toBe(before);
  });
});

describe("a sender's share of one recipient (LIMIT_PENDING_BYTES_PER_SENDER)", () => {
  it("counts that sender's own declared bytes not yet downloaded; other senders have their own; cancelling or a download gives it back", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_SENDER: "100" };
    const r = await register();
    const r2 = await register();
    const s = await register();
    const other = await register();
    const first = await json(await create(limits, s, { to: [r.id], files: [{ name: "a", size: 60 }] }));
    const before = await countRows("transfers");
    const err = await expectInboxFull(await create(limits, s, { to: [r2.id, r.id], files: [{ name: "b", size: 41 }] }), "LIMIT_PENDING_BYTES_PER_SENDER", 100, [r.id]);
    // its own bytes are its own to know; nobody else's are named
    expect(err.message).toContain("100");
    expect(await countRows("transfers")).toBe(before); // nothing recorded, not even for r2
    expect((await create(limits, other, { to: [r.id], files: [{ name: "c", size: 100 }] })).status).toBe(201);
    expect((await create(limits, s, { to: [r.id], files: [], message: "a message takes no room" })).status).toBe(201);
    expect((await create(limits, s, { to: [r.id], files: [{ name: "d", size: 40 }] })).status).toBe(201);
    expect((await call({}, `/v1/transfers/${first.id}`, { method: "DELETE", headers: s.auth })).status).toBe(204);
    expect((await create(limits, s, { to: [r.id], files: [{ name: "e", size: 60 }] })).status).toBe(201);
    // a transfer the recipient has downloaded no longer counts
    const r3 = await register();
    const sent = await sendFiles(s, [r3], [{ name: "f", data: bytes(80) }]);
    await expectInboxFull(await create(limits, s, { to: [r3.id], files: [{ name: "g", size: 21 }] }), "LIMIT_PENDING_BYTES_PER_SENDER", 100, [r3.id]);
    await download(r3, sent.id);
    expect((await create(limits, s, { to: [r3.id], files: [{ name: "g", size: 100 }] })).status).toBe(201);
  });
});

describe("the pending-bytes oracle: a stranger learns nothing exact", () => {
  it("two inboxes 1 byte apart (one of them an upload still running) answer every declared size the same", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "1000" }; // steps of 20 bytes
    const [r1, r2] = [await register(), await register()];
    const s = await register();
    await sendFiles(s, [r1], [{ name: "a", data: bytes(41) }]); // ready, 41 bytes
    const up = await json(await create({}, s, { to: [r2.id], files: [{ name: "a", size: 42 }, { name: "b", size: 500 }] }));
    expect((await put({}, s, up.id, 0, bytes(42))).status).toBe(200); // uploading, 42 bytes in
    expect((await settings(r1)).waiting.bytes).toBe(41);
    expect((await settings(r2)).waiting).toEqual({ bytes: 42, uploading: 42 });

    const stranger = await register();
    const answer = async (r: TestTerminal, size: number) => {
      const res = await create(limits, stranger, { to: [r.id], files: [{ name: "probe", size }] });
      const body = await json(res);
      if (res.status === 201) await call({}, `/v1/transfers/${body.id}`, { method: "DELETE", headers: stranger.auth });
      return { status: res.status, message: res.status === 201 ? null : body.error.message.replace(r.id, "R") };
    };
    // the binary search of the report, over every size near the edge: the same answers for both
    for (let size = 930; size <= 962; size++) expect(await answer(r2, size)).toEqual(await answer(r1, size));
    // (and the edge is where the rounded total puts it, 1000 - 60, for both)
    expect((await answer(r1, 940)).status).toBe(201);
    expect((await answer(r1, 941)).status).toBe(413);
    // a refusal names the limit, never bytes received for the recipient
    const refused = await create(limits, stranger, { to: [r1.id], files: [{ name: "probe", size: 999 }] });
    const text = JSON.stringify(await json(refused));
    expect(text).not.toMatch(/\b(41|60|959)\b/);
  });
});

describe("blocking a sender releases what it holds for me", () => {
  it("its transfers to me alone are cancelled (files removed, the sender told); a transfer I already downloaded stays; other senders' stay", async () => {
    const r = await register("R");
    const pest = await register("Pest");
    const friend = await register("Friend");
    const uploading = await json(await create({}, pest, { to: [r.id], files: [{ name: "a", size: 5 }, { name: "big", size: 10 * GiB }] }));
    expect((await put({}, pest, uploading.id, 0, bytes(5))).status).toBe(200);
    const ready = await sendFiles(pest, [r], [{ name: "b", data: bytes(30) }]);
    const had = await sendFiles(pest, [r], [{ name: "c", data: bytes(7) }]);
    await download(r, had.id);
    const kept = await sendFiles(friend, [r], [{ name: "d", data: bytes(11) }]);
    expect((await settings(r)).waiting).toEqual({ bytes: 46, uploading: 5 });

    expect((await block(r, pest)).status).toBe(204);
    for (const id of [uploading.id, ready.id]) {
      expect((await transferRow(id)).status).toBe("cancelled");
      expect(await uploadedKeys(id)).toEqual([]);
    }
    expect((await transferRow(had.id)).status).toBe("delivered");
    expect((await transferRow(kept.id)).status).toBe("ready");
    expect((await settings(r)).waiting).toEqual({ bytes: 11, uploading: 0 });
    // the sender is told, once each; the recipient hears of the one it had been told of, and its ready is withdrawn
    const pestOut = (await outboxOf(pest.id)).filter((m) => m.type === "transfer.cancelled").map((m) => m.transfer_id).sort();
    expect(pestOut).toEqual([uploading.id, ready.id].sort());
    const rOut = await outboxOf(r.id);
    expect(rOut.filter((m) => m.type === "transfer.cancelled").map((m) => m.transfer_id)).toEqual([ready.id]);
    expect(rOut.filter((m) => m.type === "transfer.ready" && m.transfer_id === ready.id && m.acked_at === null)).toEqual([]);
    // the inbox lists the downloaded one and the friend's, not the cancelled ones
    const inbox = await json(await call({}, `/v1/terminals/${r.id}/inbox`, { headers: r.auth }));
    expect(inbox.transfers.map((t: any) => t.id).sort()).toEqual([had.id, kept.id].sort());
    // the sender's upload now ends, as any upload to a cancelled transfer
    expect((await put({}, pest, uploading.id, 1, bytes(1))).status).toBe(409);
  });

  it("a transfer that has other recipients: only I am withdrawn; they keep it and can download it", async () => {
    const r = await register("R");
    const other = await register("Other");
    const pest = await register("Pest");
    const t = await sendFiles(pest, [r, other], [{ name: "x", data: bytes(20) }]);
    expect((await block(r, pest)).status).toBe(204);
    const seen = await getTransfer(pest, t.id);
    expect(seen.status).toBe("ready");
    expect(seen.to).toEqual([other.id]);
    expect(seen.recipients.map((x: any) => x.id)).toEqual([other.id]);
    expect(await uploadedKeys(t.id)).not.toEqual([]);
    // I can no longer see or fetch it, and it no longer counts for me
    expect((await call({}, `/v1/transfers/${t.id}`, { headers: r.auth })).status).toBe(403);
    expect((await call({}, `/v1/transfers/${t.id}/package`, { headers: r.auth })).status).toBe(403);
    expect((await settings(r)).waiting.bytes).toBe(0);
    expect((await outboxOf(r.id)).some((m) => m.type === "transfer.cancelled" && m.transfer_id === t.id)).toBe(true);
    // the other recipient is not told anything ended, and its download makes the transfer delivered
    expect((await outboxOf(other.id)).some((m) => m.type === "transfer.cancelled")).toBe(false);
    await download(other, t.id);
    expect((await getTransfer(pest, t.id)).status).toBe("delivered");
  });

  it("the lockout by real bytes: a sender that filled my inbox is blocked, and another sender's refused part then goes in", async () => {
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "100" };
    const r = await register();
    const filler = await register();
    const friend = await register();
    const t = await json(await create(limits, friend, { to: [r.id], files: [{ name: "f", size: 30 }] }));
    await sendFiles(filler, [r], [{ name: "junk", data: bytes(90) }]);
    await expectInboxFull(await put(limits, friend, t.id, 0, bytes(30)), "LIMIT_PENDING_BYTES_PER_RECIPIENT", 100, [r.id]);
    await block(r, filler);
    expect((await put(limits, friend, t.id, 0, bytes(30))).status).toBe(200);
  });
});

describe("accept: known releases what strangers hold for me", () => {
  it("strangers' transfers are released; a contact's and my own stay", async () => {
    const r = await register();
    const stranger = await register();
    const friend = await register();
    expect((await call({}, `/v1/terminals/${r.id}/contacts/${friend.id}`, { method: "PUT", headers: r.auth })).status).toBe(204);
    const fromStranger = await sendFiles(stranger, [r], [{ name: "s", data: bytes(40) }]);
    const strangerUploading = await json(await create({}, stranger, { to: [r.id], files: [{ name: "u", size: GiB }] }));
    const fromFriend = await sendFiles(friend, [r], [{ name: "f", data: bytes(10) }]);
    const mine = await sendFiles(r, [r], [{ name: "m", data: bytes(3) }]);
    expect((await settings(r)).waiting.bytes).toBe(53);

    const res = await call({}, `/v1/terminals/${r.id}/settings`, { method: "PATCH", headers: { ...r.auth, "content-type": "application/json" }, body: '{"accept":"known"}' });
    expect(res.status).toBe(200);
    expect((await json(res)).waiting).toEqual({ bytes: 13, uploading: 0 });
    expect((await transferRow(fromStranger.id)).status).toBe("cancelled");
    expect((await transferRow(strangerUploading.id)).status).toBe("cancelled");
    expect((await transferRow(fromFriend.id)).status).toBe("ready");
    expect((await transferRow(mine.id)).status).toBe("ready");
    // and from now on the stranger is refused
    expect((await create({}, stranger, { to: [r.id], files: [{ name: "again", size: 1 }] })).status).toBe(403);
    // a contact removed while only contacts may send is a stranger now: what it holds is released too
    expect((await call({}, `/v1/terminals/${r.id}/contacts/${friend.id}`, { method: "DELETE", headers: r.auth })).status).toBe(204);
    expect((await transferRow(fromFriend.id)).status).toBe("cancelled");
    expect((await transferRow(mine.id)).status).toBe("ready");
  });
});

const releaseDue = async (id: string) =>
  (await env.DB.prepare("SELECT release_due_at FROM terminals WHERE id = ?").bind(id).first<{ release_due_at: number | null }>())!.release_due_at;

describe("the sweep releases what a block or accept: known left", () => {
  it("a block recorded without its releases (more than a request releases, or a request that died): the sweep withdraws the rest, once", async () => {
    const r = await register();
    const pest = await register();
    const stranger = await register();
    const friend = await register();
    const fromPest = [];
    for (let i = 0; i < 3; i++) fromPest.push(await sendFiles(pest, [r], [{ name: `p${i}`, data: bytes(5, i + 1) }]));
    const r2 = await register(); // picky, with a stranger's transfer and a contact's
    const fromStranger = await sendFiles(stranger, [r2], [{ name: "s", data: bytes(5) }]);
    await call({}, `/v1/terminals/${r2.id}/contacts/${friend.id}`, { method: "PUT", headers: r2.auth });
    const fromFriend = await sendFiles(friend, [r2], [{ name: "f", data: bytes(5) }]);
    // as a request that recorded the block and the switch (each marks its terminal for the sweep in the same write), then released nothing
    await env.DB.batch([
      env.DB.prepare("INSERT INTO blocked (terminal_id, other_id, added_at) VALUES (?, ?, ?)").bind(r.id, pest.id, Date.now()),
      env.DB.prepare("UPDATE terminals SET accept = 'known' WHERE id = ?").bind(r2.id),
      env.DB.prepare("UPDATE terminals SET release_due_at = ? WHERE id IN (?, ?)").bind(Date.now(), r.id, r2.id),
    ]);
    // one by one, as a request does (oldest first) …
    expect(await releaseHeld(env, r.id, { sender: pest.id }, Date.now(), 1)).toBe(1);
    expect((await transferRow(fromPest[0].id)).status).toBe("cancelled");
    expect((await transferRow(fromPest[1].id)).status).toBe("ready");
    // … and the sweep takes the rest
    expect(await releaseRefused(env)).toBe(3);
    for (const t of [...fromPest, fromStranger]) expect((await transferRow(t.id)).status).toBe("cancelled");
    expect((await transferRow(fromFriend.id)).status).toBe("ready");
    expect(await releaseRefused(env)).toBe(0);
    expect((await outboxOf(pest.id)).filter((m) => m.type === "transfer.cancelled")).toHaveLength(3);
    // nothing refused is held for them any more: the sweep looks at them no more
    expect(await releaseDue(r.id)).toBeNull();
    expect(await releaseDue(r2.id)).toBeNull();
  });

  it("each way of coming to refuse a sender marks the terminal for the sweep in the same write; the sweep unmarks it once nothing refused is held", async () => {
    const [a, b, c, x] = [await register(), await register(), await register(), await register()];
    expect(await releaseDue(a.id)).toBeNull();
    // a block
    expect((await call({}, `/v1/terminals/${a.id}/blocked/${x.id}`, { method: "PUT", headers: a.auth })).status).toBe(204);
    expect(await releaseDue(a.id)).not.toBeNull();
    // a switch to accept: known
    expect((await call({}, `/v1/terminals/${b.id}/settings`, { method: "PATCH", headers: { ...b.auth, "content-type": "application/json" }, body: JSON.stringify({ accept: "known" }) })).status).toBe(200);
    expect(await releaseDue(b.id)).not.toBeNull();
    // a contact removed while known (not while anyone may send)
    await env.DB.prepare("UPDATE terminals SET accept = 'known' WHERE id = ?").bind(c.id).run();
    expect((await call({}, `/v1/terminals/${c.id}/contacts/${x.id}`, { method: "PUT", headers: c.auth })).status).toBe(204);
    expect(await releaseDue(c.id)).toBeNull();
    expect((await call({}, `/v1/terminals/${c.id}/contacts/${x.id}`, { method: "DELETE", headers: c.auth })).status).toBe(204);
    expect(await releaseDue(c.id)).not.toBeNull();
    await releaseRefused(env);
    for (const t of [a, b, c]) expect(await releaseDue(t.id)).toBeNull();
  });

  it("the sweep's query starts from the marked terminals (their index), never from every transfer or recipient", async () => {
    const { results } = await env.DB.prepare(`EXPLAIN QUERY PLAN ${REFUSED_HELD}`).bind(Date.now(), 100).all<{ detail: string }>();
    const plan = results.map((r) => r.detail);
    expect(plan[0]).toMatch(/^SEARCH t USING INDEX terminals_release_due/);
    expect(plan.filter((d) => /^SCAN /.test(d))).toEqual([]);
  });
});

describe("settings.waiting", () => {
  it("bytes received for me and not yet downloaded, and how many are still uploading; only I see it", async () => {
    const r = await register();
    const s1 = await register();
    const s2 = await register();
    expect((await settings(r)).waiting).toEqual({ bytes: 0, uploading: 0 });
    const ready = await sendFiles(s1, [r], [{ name: "a", data: bytes(30) }]);
    const up = await json(await create({}, s2, { to: [r.id], files: [{ name: "b", size: 20 }, { name: "c", size: 30 }] }));
    expect((await put({}, s2, up.id, 0, bytes(20))).status).toBe(200);
    expect((await settings(r)).waiting).toEqual({ bytes: 50, uploading: 20 });
    await download(r, ready.id);
    expect((await settings(r)).waiting).toEqual({ bytes: 20, uploading: 20 });
    expect((await call({}, `/v1/transfers/${up.id}`, { method: "DELETE", headers: s2.auth })).status).toBe(204);
    expect((await settings(r)).waiting).toEqual({ bytes: 0, uploading: 0 });
    expect((await call({}, `/v1/terminals/${r.id}/settings`, { headers: s1.auth })).status).toBe(403);
  });
});
