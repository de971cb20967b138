import { beforeAll, describe, expect, it } from "vitest";
import { LARGE_PART_SIZE, PART_SIZE } from "../../src/config";
import { frameKey } from "../../src/store/keys";
import {
  api,
  bigBytes,
  bytes,
  countRows,
  createTransfer,
  env,
  eventually,
  getTransfer,
  json,
  outboxOf,
  putFile,
  register,
  sendFiles,
  sha256,
  streamOf,
  uploadedKeys,
  waitForStatus,
  type TestTerminal,
} from "./helpers";

const MiB = 1024 * 1024;
let alice: TestTerminal;
let bob: TestTerminal;
let carol: TestTerminal;

beforeAll(async () => {
  alice = await register("Alice");
  bob = await register("Bob");
  carol = await register("Carol");
});

async function newTransfer(files: Array<{ name: string; size: number; type?: string }>, to = [bob]): Promise<any> {
  const res = await createTransfer(alice, { to: to.map((t) => t.id), files });
  expect(res.status).toBe(201);
  return json(res);
}

async function errorCode(res: Response): Promise<string> {
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  return (await json(res)).error.code;
}

/** The object D1 names as part 1 of a file. */
const partKey = async (id: string, idx = 0) =>
  (await env.DB.prepare("SELECT object_key FROM file_parts WHERE transfer_id = ? AND idx = ? AND part = 1").bind(id, idx).first<any>())?.object_key;

const partRows = (id: string, idx = 0) => countRows("file_parts", "transfer_id = ? AND idx = ?", id, idx);

describe("multipart upload", () => {
  it("a 40 MiB file in 3 parts, out of order, one part resent; progress is reported after each part", async () => {
    expect(PART_SIZE).toBe(16 * MiB);
    const size = 40 * MiB;
    const data = bigBytes(size, 11);
    const t = await newTransfer([{ name: "big.bin", size }]);
    const f = t.files[0];
    expect(f.partSize).toBe(PART_SIZE);
    expect(f.parts).toBe(3);
    expect(f.received).toBe(0);
    expect(f.partsReceived).toEqual([]);
    const part = (n: number) => data.subarray((n - 1) * PART_SIZE, Math.min(size, n * PART_SIZE));
    const progress = async () => {
      const g = (await getTransfer(alice, t.id)).files[0];
      return { received: g.received, partsReceived: g.partsReceived, sha256: g.sha256 };
    };

    // the last (short) part first
    let res = await putFile(alice, t.id, 0, part(3), 3);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.file.received).toBe(8 * MiB);
    expect(body.file.partsReceived).toEqual([3]);
    expect(await progress()).toEqual({ received: 8 * MiB, partsReceived: [3], sha256: null });

    // part 1 with the wrong bytes, then again with the right ones: it replaces itself
    res = await putFile(alice, t.id, 0, bigBytes(PART_SIZE, 99), 1);
    expect(res.status).toBe(200);
    expect(await progress()).toEqual({ received: 24 * MiB, partsReceived: [1, 3], sha256: null });
    res = await putFile(alice, t.id, 0, part(1), 1);
    expect(res.status).toBe(200);
    expect(await progress()).toEqual({ received: 24 * MiB, partsReceived: [1, 3], sha256: null });
    // a resend that breaks off short leaves the part already there
    res = await putFile(alice, t.id, 0, streamOf(part(1).subarray(0, MiB)), 1);
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("body_too_short");
    expect(await progress()).toEqual({ received: 24 * MiB, partsReceived: [1, 3], sha256: null });
    expect((await getTransfer(alice, t.id)).status).toBe("uploading");

    // the middle part completes the file and the transfer moves on by itself
    res = await putFile(alice, t.id, 0, part(2), 2);
    expect(res.status).toBe(200);
    const done = await json(res);
    expect(done.file.received).toBe(size);
    expect(done.file.partsReceived).toEqual([1, 2, 3]);
    expect(["packaging", "ready"]).toContain(done.status);

    const ready = await waitForStatus(alice, t.id);
    expect(ready.files[0].sha256).toBe(await sha256(data));
    // the stored bytes are the right ones: the resent part 1 replaced the wrong one
    const file = await api(`/v1/transfers/${t.id}/files/0`, { headers: bob.auth });
    expect(file.status).toBe(200);
    expect(await sha256(await file.arrayBuffer())).toBe(await sha256(data));
    // the package is made of the part objects themselves (no copy); the replaced part 1 is gone
    await eventually(async () => ((await uploadedKeys(t.id)).length === 3 ? true : undefined), 5000, "three part objects");

    // once packaging has begun, the files are frozen
    res = await putFile(alice, t.id, 0, part(2), 2);
    expect(res.status).toBe(409);
    expect(await errorCode(res)).toBe("not_uploading");
  });

  it("an overrun is refused with 413 and nothing is recorded, whether declared or streamed", async () => {
    const size = PART_SIZE + 1000;
    const t = await newTransfer([{ name: "o.bin", size }]);
    // declared: a part of 1000 bytes sent with 1001
    let res = await putFile(alice, t.id, 0, bytes(1001), 2);
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe("body_too_large");
    // streamed with no Content-Length: the bytes themselves are counted
    res = await putFile(alice, t.id, 0, streamOf(bytes(600), bytes(401)), 2);
    expect(res.status).toBe(413);
    // a Content-Length that lies low does not fool the counter
    res = await putFile(alice, t.id, 0, streamOf(bytes(1000), bytes(5)), 2, { "content-length": "1000" });
    expect(res.status).toBe(413);
    expect(await partRows(t.id)).toBe(0);
    const g = await getTransfer(alice, t.id);
    expect(g.files[0].received).toBe(0);
    expect(g.files[0].partsReceived).toEqual([]);

    // the same for a one-part file: no object is left in R2
    const s = await newTransfer([{ name: "s.bin", size: 1000 }]);
    res = await putFile(alice, s.id, 0, streamOf(bytes(1000), bytes(1)));
    expect(res.status).toBe(413);
    await eventually(async () => ((await uploadedKeys(s.id)).length === 0 ? true : undefined), 5000, "no object left");
    const sg = await getTransfer(alice, s.id);
    expect(sg.files[0].received).toBe(0);
    expect(sg.status).toBe("uploading");
    // an overrun resend of a part already received leaves that part as it was
    const m = await newTransfer([{ name: "m.bin", size: PART_SIZE + 1000 }]);
    const d = bigBytes(PART_SIZE + 1000, 21);
    expect((await putFile(alice, m.id, 0, d.subarray(PART_SIZE), 2)).status).toBe(200);
    res = await putFile(alice, m.id, 0, streamOf(bytes(1000, 9), bytes(1)), 2, { "content-length": "1000" });
    expect(res.status).toBe(413);
    expect((await getTransfer(alice, m.id)).files[0].partsReceived).toEqual([2]);
    expect((await putFile(alice, m.id, 0, d.subarray(0, PART_SIZE), 1)).status).toBe(200);
    expect((await waitForStatus(alice, m.id)).files[0].sha256).toBe(await sha256(d));

    // and an overrun re-upload of a complete one-part file keeps the bytes it had
    const w = await newTransfer([{ name: "w0.bin", size: 1000 }, { name: "w1.bin", size: 10 }]);
    const w0 = bytes(1000, 31);
    expect((await putFile(alice, w.id, 0, w0)).status).toBe(200);
    res = await putFile(alice, w.id, 0, streamOf(bytes(1000, 32), bytes(7)), undefined, { "content-length": "1000" });
    expect(res.status).toBe(413);
    expect((await putFile(alice, w.id, 1, bytes(10))).status).toBe(200);
    expect((await waitForStatus(alice, w.id)).files[0].sha256).toBe(await sha256(w0));

    // an empty file must stay empty
    const e = await newTransfer([{ name: "empty.txt", size: 0 }, { name: "other.txt", size: 1 }]);
    res = await putFile(alice, e.id, 0, streamOf(bytes(1)));
    expect(res.status).toBe(413);
  });

  it("an overrun whose extra bytes come late (R2 then keeps the first N bytes) is a 413, and those bytes are never read", async () => {
    // measured in workerd: put() rejects, yet the object holds the first N bytes; the upload
    // wrote them under a key of its own, which no row names and which it deletes
    const m = await newTransfer([{ name: "late.bin", size: 1000 }, { name: "other.bin", size: 3 }]);
    const good = bytes(1000, 61);
    expect((await putFile(alice, m.id, 0, good)).status).toBe(200);
    const keyBefore = await partKey(m.id);
    let sent = 0;
    const late = new ReadableStream<Uint8Array>({
      async pull(c) {
        if (sent++ === 0) return c.enqueue(bytes(1000, 62));
        await new Promise((r) => setTimeout(r, 300));
        c.enqueue(bytes(1, 63));
        c.close();
      },
    });
    const res = await putFile(alice, m.id, 0, late);
    expect(res.status).toBe(413);
    expect(await errorCode(res)).toBe("body_too_large");
    expect(await partKey(m.id)).toBe(keyBefore);
    await eventually(async () => ((await uploadedKeys(m.id)).length === 1 ? true : undefined), 5000, "only the accepted object");
    expect((await putFile(alice, m.id, 1, bytes(3))).status).toBe(200);
    expect((await waitForStatus(alice, m.id)).files[0].sha256).toBe(await sha256(good));
  });

  it("a short body is a 400 and does not complete the file", async () => {
    const s = await newTransfer([{ name: "short.bin", size: 1000 }]);
    // declared short
    let res = await putFile(alice, s.id, 0, bytes(999));
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("body_too_short");
    // streamed short, no Content-Length
    res = await putFile(alice, s.id, 0, streamOf(bytes(500), bytes(499)));
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("body_too_short");
    // a Content-Length that lies high
    res = await putFile(alice, s.id, 0, streamOf(bytes(10)), undefined, { "content-length": "1000" });
    expect(res.status).toBe(400);
    await eventually(async () => ((await uploadedKeys(s.id)).length === 0 ? true : undefined), 5000, "no object left");
    const g = await getTransfer(alice, s.id);
    expect(g.status).toBe("uploading");
    expect(g.files[0].received).toBe(0);
    expect(await countRows("transfer_files", "transfer_id = ? AND completed_at IS NOT NULL", s.id)).toBe(0);

    // a short non-final part of a multipart file
    const m = await newTransfer([{ name: "m.bin", size: PART_SIZE + 10 }]);
    res = await putFile(alice, m.id, 0, streamOf(bytes(PART_SIZE - 1)), 1);
    expect(res.status).toBe(400);
    expect(await partRows(m.id)).toBe(0);
    // and a retry of it, whole, is accepted
    res = await putFile(alice, m.id, 0, bytes(10), 2);
    expect(res.status).toBe(200);
    expect((await json(res)).file.partsReceived).toEqual([2]);
  });

  it("a file over 192 MiB goes up in 64 MiB parts: the last one holds the rest, a 16 MiB part 1 is short", async () => {
    expect(LARGE_PART_SIZE).toBe(64 * MiB);
    const size = 200 * MiB + 123;
    const t = await newTransfer([{ name: "large.bin", size }, { name: "192.bin", size: 192 * MiB }]);
    expect(t.files.map((f: any) => [f.partSize, f.parts])).toEqual([
      [64 * MiB, 4],
      [16 * MiB, 12],
    ]);
    // part 4: 200 MiB + 123 - 3 × 64 MiB
    let res = await putFile(alice, t.id, 0, bigBytes(8 * MiB + 123, 5), 4);
    expect(res.status).toBe(200);
    expect((await json(res)).file).toMatchObject({ received: 8 * MiB + 123, partsReceived: [4] });
    res = await putFile(alice, t.id, 0, streamOf(bigBytes(PART_SIZE, 6)), 1);
    expect(res.status).toBe(400);
    expect(await partRows(t.id)).toBe(1);
  });

  it("part numbers outside the file, or a part-less PUT of a multipart file → 400", async () => {
    const m = await newTransfer([{ name: "m.bin", size: 2 * PART_SIZE + 1 }, { name: "one.bin", size: 5 }]);
    for (const p of ["0", "4", "abc", "1.5", "-1", "", "99999999999999999999"]) {
      const res = await api(`/v1/transfers/${m.id}/files/0?part=${p}`, { method: "PUT", headers: alice.auth, body: bytes(1) });
      expect(res.status, `part=${p}`).toBe(400);
      expect(await errorCode(res)).toBe("invalid_part");
    }
    let res = await putFile(alice, m.id, 0, bytes(1));
    expect(res.status).toBe(400);
    expect(await errorCode(res)).toBe("parts_required");
    // a one-part file takes part 1 (same as a plain PUT), and nothing else
    res = await putFile(alice, m.id, 1, bytes(5), 2);
    expect(res.status).toBe(400);
    res = await putFile(alice, m.id, 1, bytes(5, 3), 1);
    expect(res.status).toBe(200);
    expect((await json(res)).file.received).toBe(5);
    // unknown file index
    res = await putFile(alice, m.id, 2, bytes(1));
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe("file_not_found");
    expect(await partRows(m.id)).toBe(0);
  });

  it("only the sender may upload: a recipient → 403, a stranger → 403, no token → 401", async () => {
    const t = await newTransfer([{ name: "a.txt", size: 3 }]);
    let res = await putFile(bob, t.id, 0, bytes(3));
    expect(res.status).toBe(403);
    res = await putFile(carol, t.id, 0, bytes(3));
    expect(res.status).toBe(403);
    res = await api(`/v1/transfers/${t.id}/files/0`, { method: "PUT", body: bytes(3) });
    expect(res.status).toBe(401);
    expect(await uploadedKeys(t.id)).toEqual([]);
    expect((await getTransfer(alice, t.id)).files[0].received).toBe(0);
  });
});

describe("one-shot PUT /v1/send/{terminalId}/{filename}", () => {
  it("without a file name (a URL ending in the id, or in the id and /): 400 filename_required", async () => {
    for (const path of [`/v1/send/${bob.id}/`, `/v1/send/${bob.id}`]) {
      const res = await api(path, { method: "PUT", headers: alice.auth, body: "abc" });
      expect(res.status, path).toBe(400);
      expect((await json(res)).error.code).toBe("filename_required");
    }
  });

  it("creates, uploads and completes a transfer in one request (201)", async () => {
    const data = bytes(70_000, 5);
    const res = await api(`/v1/send/${bob.id}/${encodeURIComponent("Grüße – 報告.txt")}?message=${encodeURIComponent("hi there")}`, {
      method: "PUT",
      headers: { ...alice.auth, "content-type": "text/plain; charset=utf-8" },
      body: data,
    });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(res.headers.get("location")).toBe(`/v1/transfers/${t.id}`);
    expect(t.from.id).toBe(alice.id);
    expect(t.to).toEqual([bob.id]);
    expect(t.message).toBe("hi there");
    expect(t.files).toHaveLength(1);
    expect(t.files[0]).toMatchObject({ name: "Grüße – 報告.txt", size: data.byteLength, received: data.byteLength, type: "text/plain; charset=utf-8" });
    expect(["packaging", "ready"]).toContain(t.status);
    const ready = await waitForStatus(alice, t.id);
    expect(ready.files[0].sha256).toBe(await sha256(data));
    const file = await api(`/v1/transfers/${t.id}/files/0`, { headers: bob.auth });
    expect(await sha256(await file.arrayBuffer())).toBe(await sha256(data));
  });

  it("takes several recipients and a name in folders", async () => {
    const res = await api(`/v1/send/${bob.id},${carol.id}/dir/sub/x.bin`, { method: "PUT", headers: alice.auth, body: bytes(10) });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(t.to).toEqual([bob.id, carol.id]);
    expect(t.files[0].name).toBe("dir/sub/x.bin");
  });

  it("needs Content-Length (411), a token (401), a known recipient (404), and leaves nothing behind", async () => {
    const before = await countRows("transfers");
    let res = await api(`/v1/send/${bob.id}/x.bin`, { method: "PUT", headers: alice.auth, body: streamOf(bytes(10)) });
    expect(res.status).toBe(411);
    expect(await errorCode(res)).toBe("length_required");
    res = await api(`/v1/send/${bob.id}/x.bin`, { method: "PUT", body: bytes(10) });
    expect(res.status).toBe(401);
    res = await api(`/v1/send/000000000/x.bin`, { method: "PUT", headers: alice.auth, body: bytes(10) });
    expect(res.status).toBe(404);
    // a body longer or shorter than its Content-Length: refused, and the transfer is forgotten
    res = await api(`/v1/send/${bob.id}/x.bin`, { method: "PUT", headers: { ...alice.auth, "content-length": "10" }, body: streamOf(bytes(11)) });
    expect(res.status).toBe(413);
    res = await api(`/v1/send/${bob.id}/x.bin`, { method: "PUT", headers: { ...alice.auth, "content-length": "10" }, body: streamOf(bytes(9)) });
    expect(res.status).toBe(400);
    expect(await countRows("transfers")).toBe(before);
    const listed = await env.BUCKET.list({ prefix: "uploads/" });
    const ids = new Set((await env.DB.prepare("SELECT id FROM transfers").all<{ id: string }>()).results.map((r) => r.id));
    for (const o of listed.objects) expect(ids.has(o.key.split("/")[1]!)).toBe(true);
  });
});

describe("DELETE /v1/transfers/{id}", () => {
  it("cancels (204) and removes every uploaded part", async () => {
    const t = await newTransfer([{ name: "small.txt", size: 100 }, { name: "big.bin", size: PART_SIZE + 100 }, { name: "never.bin", size: 10 }]);
    expect((await putFile(alice, t.id, 0, bytes(100))).status).toBe(200);
    expect((await putFile(alice, t.id, 1, bigBytes(PART_SIZE, 2), 1)).status).toBe(200);
    expect(await uploadedKeys(t.id)).toHaveLength(2);

    // only the sender may cancel
    expect((await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: bob.auth })).status).toBe(403);
    expect((await api(`/v1/transfers/${t.id}`, { method: "DELETE" })).status).toBe(401);

    const res = await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect(await uploadedKeys(t.id)).toEqual([]);

    const after = await getTransfer(alice, t.id);
    expect(after.status).toBe("cancelled");
    let put = await putFile(alice, t.id, 2, bytes(10));
    expect(put.status).toBe(409);
    put = await putFile(alice, t.id, 1, bigBytes(PART_SIZE, 2), 1);
    expect(put.status).toBe(409);
    // idempotent
    expect((await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth })).status).toBe(204);
    expect((await getTransfer(alice, t.id)).status).toBe("cancelled");
  });

  it("an empty file's empty body: a no-op while the transfer lives, refused as for any file once it has ended", async () => {
    const t = await newTransfer([{ name: "data.bin", size: 10 }, { name: "empty.txt", size: 0 }]);
    expect((await putFile(alice, t.id, 0, bytes(10))).status).toBe(200);
    // a client sending every file in turn sends the empty one after packaging began
    expect((await putFile(alice, t.id, 1, new Uint8Array(0))).status).toBe(200);
    await waitForStatus(alice, t.id);
    expect((await putFile(alice, t.id, 1, new Uint8Array(0))).status).toBe(200);
    expect((await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth })).status).toBe(204);
    for (const body of [new Uint8Array(0), bytes(1)]) {
      const put = await putFile(alice, t.id, 1, body);
      expect(put.status).toBe(409);
      expect(await errorCode(put)).toBe("not_uploading");
    }
  });

  it("cancelling a ready transfer removes its package, ends downloads and tells the recipients", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "r.txt", data: bytes(500) }]);
    expect(await env.BUCKET.head(frameKey(t.id))).not.toBeNull();
    // (the consumer sends transfer.ready just after the status flips; the race of a cancel
    // with that is covered in package.test.ts)
    for (const who of [bob, carol]) {
      await eventually(async () => ((await outboxOf(who.id)).some((r) => r.transfer_id === t.id) ? true : undefined));
    }
    const res = await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth });
    expect(res.status).toBe(204);
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
    expect(await uploadedKeys(t.id)).toEqual([]);
    const dl = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    expect(dl.status).toBe(410);
    expect(await errorCode(dl)).toBe("transfer_cancelled");
    for (const who of [bob, carol]) {
      const box = await eventually(async () => {
        const rows = await outboxOf(who.id);
        return rows.some((r) => r.transfer_id === t.id && r.type === "transfer.cancelled") ? rows : undefined;
      });
      const cancelled = box.filter((r) => r.transfer_id === t.id && r.type === "transfer.cancelled");
      expect(cancelled).toHaveLength(1);
      expect(cancelled[0]!.body).toMatchObject({ type: "transfer.cancelled", transferId: t.id });
      // the now pointless transfer.ready is no longer pending
      expect(box.filter((r) => r.transfer_id === t.id && r.type === "transfer.ready" && r.acked_at === null)).toEqual([]);
    }
    const inbox = await json(await api(`/v1/terminals/${bob.id}/inbox`, { headers: bob.auth }));
    expect(inbox.transfers.map((x: any) => x.id)).not.toContain(t.id);
  });
});

/** A request body the test releases when it chooses: all of `data` but the last byte at once, the rest on release(). */
/**
 * A body whose last byte waits for `release()`; `reading()` turns true once the worker has
 * started reading it (highWaterMark 0: nothing is pulled before the reader asks).
 */
function heldBody(data: Uint8Array) {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let pulls = 0;
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(c) {
        if (pulls++ === 0) return c.enqueue(data.subarray(0, data.byteLength - 1));
        await gate;
        c.enqueue(data.subarray(data.byteLength - 1));
        c.close();
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, release, reading: async () => (pulls > 0 ? true : undefined) };
}

describe("uploads racing other requests", () => {
  it("a file still streaming when the sender cancels is not kept (409, as for any upload to it), and leaves nothing in R2", async () => {
    const a = await register("canceller");
    const b = await register("cancellee");
    const data = bytes(200_000, 51);
    const t = await json(await createTransfer(a, { to: [b.id], files: [{ name: "late.bin", size: data.byteLength }] }));
    const held = heldBody(data);
    const put = api(`/v1/transfers/${t.id}/files/0`, { method: "PUT", headers: a.auth, body: held.stream, duplex: "half" } as RequestInit);
    await eventually(held.reading, 5_000, "the upload streaming");
    expect((await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: a.auth })).status).toBe(204);
    held.release();
    const res = await put;
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe("not_uploading");
    await eventually(async () => ((await uploadedKeys(t.id)).length === 0 ? true : undefined), 5000, "no object left");
    expect((await getTransfer(a, t.id)).status).toBe("cancelled");
  });

  it("a part still streaming when another request completes the file is answered 200, not an error", async () => {
    const a = await register("racer2");
    const b = await register("racee2");
    const data = bigBytes(PART_SIZE + 5000, 52);
    const t = await json(await createTransfer(a, { to: [b.id], files: [{ name: "twice.bin", size: data.byteLength }] }));
    expect((await putFile(a, t.id, 0, data.subarray(0, PART_SIZE), 1)).status).toBe(200);
    // part 2 is sent twice: the first copy stalls, the second completes the file
    const held = heldBody(data.subarray(PART_SIZE));
    const slow = api(`/v1/transfers/${t.id}/files/0?part=2`, { method: "PUT", headers: a.auth, body: held.stream, duplex: "half" } as RequestInit);
    await eventually(held.reading, 5_000, "the part streaming");
    expect((await putFile(a, t.id, 0, data.subarray(PART_SIZE), 2)).status).toBe(200);
    held.release();
    const res = await slow;
    expect(res.status).toBe(200);
    const ready = await waitForStatus(b, t.id);
    expect(ready.files[0].sha256).toBe(await sha256(data));
  });
});

