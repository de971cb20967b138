import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { buildPackage, packageInput, type OpenFile, type PackageInput } from "../../src/package/build";
import { packageTransfer } from "../../src/package/consumer";
import { hasherOf, type StoredPartRef } from "../../src/package/hasher";
import { getTransferRecord } from "../../src/store/transfers";
import {
  api,
  bigBytes,
  bytes,
  createTransfer,
  env,
  getTransfer,
  json,
  putFile,
  register,
  sha256,
  storePartObject,
  waitForStatus,
  type TestTerminal,
} from "./helpers";

/**
 * src/package/hasher.ts: a transfer's parts read and hashed while it is being uploaded. What
 * it hands the packager must be exactly what reading the parts afterwards gives, and it must
 * hand nothing when it did not read exactly the parts D1 names.
 */

const PART = 100_000; // small parts (set in D1), so that a few hundred KB make many parts

let sender: TestTerminal;
let recipient: TestTerminal;

beforeAll(async () => {
  sender = await register("hasher-sender");
  recipient = await register("hasher-recipient");
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** A transfer still uploading, whose files are cut into PART-byte parts; nothing stored yet. */
async function uploadingTransfer(files: Array<{ name: string; data: Uint8Array }>, message?: string) {
  const res = await createTransfer(sender, {
    to: [recipient.id],
    files: files.map((f) => ({ name: f.name, size: f.data.byteLength })),
    ...(message ? { message } : {}),
  });
  expect(res.status).toBe(201);
  const t = await json(res);
  await env.DB.prepare("UPDATE transfer_files SET part_size = ? WHERE transfer_id = ?").bind(PART, t.id).run();
  return t.id as string;
}

/** Stores part `n` of file `idx` (as an upload would: its own object, named in D1). */
async function storePart(id: string, idx: number, data: Uint8Array, n: number, nonce = "a"): Promise<StoredPartRef> {
  const chunk = data.subarray((n - 1) * PART, Math.min(data.byteLength, n * PART));
  return { idx, part: n, key: await storePartObject(id, idx, n, chunk, nonce), size: chunk.byteLength };
}

/** What D1 names now: the packager's input and parts. */
async function named(id: string): Promise<{ input: PackageInput; parts: StoredPartRef[] }> {
  const rec = (await getTransferRecord(env.DB, id))!;
  return { input: packageInput(rec), parts: rec.parts.map((p) => ({ idx: p.idx, part: p.part, key: p.object_key, size: p.size })) };
}

/** The package read afterwards, from the objects `parts` names (what the packager does without the hasher). */
async function readAfterwards(input: PackageInput, parts: StoredPartRef[]) {
  const open: OpenFile = async function* (file) {
    for (const p of parts.filter((q) => q.idx === file.idx).sort((a, b) => a.part - b.part)) yield (await env.BUCKET.get(p.key))!.body;
  };
  return buildPackage(input, open);
}

/** What the worker logs (it runs in this isolate), from now on. */
function captureLogs(): string[] {
  const logs: string[] = [];
  const log = console.log.bind(console);
  vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => {
    logs.push(a.map(String).join(" "));
    log(...a);
  });
  return logs;
}

/** The "packaged" event logged for a transfer (src/package/consumer.ts). */
const packagedEvent = (logs: string[], id: string) =>
  logs.map((l) => (l.startsWith("{") ? JSON.parse(l) : null)).find((e) => e?.event === "packaged" && e.transfer === id);

const parts = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe("the package hasher", () => {
  it("reads parts offered in any order, waiting for the missing ones, and gives exactly the package a later read gives", async () => {
    const files = [
      { name: "big.bin", data: bigBytes(5 * PART + 123, 3) },
      { name: "empty.txt", data: new Uint8Array(0) },
      { name: "small.bin", data: bytes(PART - 1, 4) },
      { name: "two.bin", data: bytes(2 * PART, 5) },
    ];
    const id = await uploadingTransfer(files, "hello");
    const hasher = hasherOf(env, id);
    // parts arrive out of order: later files first, the first file's parts shuffled
    const order: Array<[number, number]> = [[3, 2], [2, 1], [0, 3], [0, 1], [3, 1], [0, 6], [0, 2], [0, 5], [0, 4]];
    for (const [idx, n] of order) {
      const ref = await storePart(id, idx, files[idx]!.data, n);
      await hasher.partStored(id, ref);
    }
    const { input, parts: named_ } = await named(id);
    const early = await hasher.take(id, input, named_);
    expect(early).not.toBeNull();
    const later = await readAfterwards(input, named_);
    expect(early!.sha256).toBe(later.sha256);
    expect(early!.size).toBe(later.size);
    expect(early!.entries).toEqual(later.entries);
    expect(new Uint8Array(early!.frame)).toEqual(later.frame);
    expect(early!.entries.find((e) => e.idx === 0)!.sha256).toBe(await sha256(files[0]!.data));
    // taken: the run is over; asking again gets nothing (the packager then reads the parts itself)
    expect(await hasher.take(id, input, named_)).toBeNull();
  });

  it("gives nothing when a part it read was sent again (another object), nor for parts it never saw", async () => {
    const data = bytes(3 * PART, 6);
    const id = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher = hasherOf(env, id);
    for (const n of parts(3)) await hasher.partStored(id, await storePart(id, 0, data, n));
    // part 2 again, with other bytes, recorded in D1 but never offered to the hasher
    const changed = data.slice();
    changed.fill(7, PART, 2 * PART);
    await storePart(id, 0, changed, 2, "b");
    const { input, parts: now } = await named(id);
    expect(await hasher.take(id, input, now)).toBeNull();
    // a fresh object (nothing offered: evicted, restarted) has nothing either
    expect(await hasherOf(env, `${id}-never`).take(id, input, now)).toBeNull();
  });

  it("a part sent again and offered begins the reading anew from what D1 names: the result is of the new bytes", async () => {
    const data = bytes(3 * PART, 7);
    const id = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher = hasherOf(env, id);
    for (const n of parts(3)) await hasher.partStored(id, await storePart(id, 0, data, n));
    const changed = data.slice();
    changed.fill(9, 0, PART);
    await hasher.partStored(id, await storePart(id, 0, changed, 1, "b"));
    const { input, parts: now } = await named(id);
    const early = await hasher.take(id, input, now);
    expect(early).not.toBeNull();
    expect(early!.entries[0]!.sha256).toBe(await sha256(changed));
    expect(early!.sha256).toBe((await readAfterwards(input, now)).sha256);
  });

  it("the manifest is written from the input at packaging time (a sender renamed meanwhile); other files: nothing", async () => {
    const data = bytes(2 * PART, 8);
    const id = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher = hasherOf(env, id);
    for (const n of parts(2)) await hasher.partStored(id, await storePart(id, 0, data, n));
    const { input, parts: now } = await named(id);
    const renamed = { ...input, from: { ...input.from, name: "renamed" } };
    const early = await hasher.take(id, renamed, now);
    expect(early!.sha256).toBe((await readAfterwards(renamed, now)).sha256);
    expect(early!.sha256).not.toBe((await readAfterwards(input, now)).sha256);

    const id2 = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher2 = hasherOf(env, id2);
    for (const n of parts(2)) await hasher2.partStored(id2, await storePart(id2, 0, data, n));
    const second = await named(id2);
    const other = { ...second.input, files: [{ ...second.input.files[0]!, name: "b.bin" }] };
    expect(await hasher2.take(id2, other, second.parts)).toBeNull();
  });

  it("after take, a part offered late starts nothing (it would read the whole transfer again for no one)", async () => {
    const data = bytes(2 * PART, 9);
    const id = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher = hasherOf(env, id);
    const refs = [];
    for (const n of parts(2)) refs.push(await storePart(id, 0, data, n));
    await hasher.partStored(id, refs[0]!);
    const { input, parts: now } = await named(id);
    expect(await hasher.take(id, input, now)).not.toBeNull();
    await hasher.partStored(id, refs[1]!); // (late: its upload's waitUntil ran after the packager)
    expect(await hasher.take(id, input, now)).toBeNull();
  });

  it("a part sent again before its turn came: the result is of the new bytes", async () => {
    const data = bytes(4 * PART, 10);
    const id = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher = hasherOf(env, id);
    // parts 2–4 first (read once part 1 is in), then part 4 again, then part 1
    for (const n of [2, 3, 4]) await hasher.partStored(id, await storePart(id, 0, data, n));
    const changed = data.slice();
    changed.fill(5, 3 * PART);
    await hasher.partStored(id, await storePart(id, 0, changed, 4, "b"));
    await hasher.partStored(id, await storePart(id, 0, changed, 1));
    const { input, parts: now } = await named(id);
    const early = await hasher.take(id, input, now);
    expect(early).not.toBeNull();
    expect(early!.entries[0]!.sha256).toBe(await sha256(changed));
  });

  it("through the API: a transfer that goes through the queue is hashed while it uploads, and its package is the same as one read afterwards", async () => {
    const logs = captureLogs();
    // 40 files (more than are packaged inline), uploaded one by one
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `f${i}.bin`, data: bytes(1000 + i * 37, 100 + i) }));
    const res = await createTransfer(sender, { to: [recipient.id], files: files.map((f) => ({ name: f.name, size: f.data.byteLength })) });
    const t = await json(res);
    for (const [i, f] of files.entries()) expect((await putFile(sender, t.id, i, f.data)).status).toBe(200);
    const ready = await waitForStatus(sender, t.id);
    expect(packagedEvent(logs, t.id)?.early).toBe(true);
    const { input, parts: now } = await named(t.id);
    expect(ready.package.sha256).toBe((await readAfterwards(input, now)).sha256);
    const pkg = await api(`/v1/transfers/${t.id}/package`, { headers: recipient.auth });
    expect(pkg.status).toBe(200);
    expect(await sha256(await pkg.arrayBuffer())).toBe(ready.package.sha256);
    expect((await getTransfer(sender, t.id)).package.sha256).toBe(ready.package.sha256);
  });

  it("packaging without the hasher's result (a part it read was replaced before packaging) reads the parts itself", async () => {
    const logs = captureLogs();
    const data = bytes(11 * PART, 11); // over 1 MiB: packaged through the queue, so the packager asks the hasher
    const id = await uploadingTransfer([{ name: "a.bin", data }]);
    const hasher = hasherOf(env, id);
    for (const n of parts(11)) await hasher.partStored(id, await storePart(id, 0, data, n));
    const changed = data.slice();
    changed.fill(1, 10 * PART);
    await storePart(id, 0, changed, 11, "z"); // not offered
    await env.DB.batch([
      env.DB.prepare("UPDATE transfer_files SET completed_at = ? WHERE transfer_id = ?").bind(Date.now(), id),
      env.DB.prepare("UPDATE transfers SET status = 'packaging' WHERE id = ?").bind(id),
    ]);
    await packageTransfer(env, id);
    const t = await getTransfer(sender, id);
    expect(t.status).toBe("ready");
    expect(t.files[0].sha256).toBe(await sha256(changed));
    expect(packagedEvent(logs, id)?.early).toBe(false);
  });
});
