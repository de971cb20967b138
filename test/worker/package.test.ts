import { beforeAll, describe, expect, it } from "vitest";
import { createExecutionContext, createMessageBatch, getQueueResult } from "cloudflare:test";
import worker from "../../src/index";
import { INLINE_LEASE_MS, PACKAGE_LEASE_MS, packageSoon, packageTransfer } from "../../src/package/consumer";
import type { Job } from "../../src/package/jobs";
import { buildPackage, PackageSourceError, type OpenFile, type PackageInput, type PackageResult } from "../../src/package/build";
import { frameKey } from "../../src/store/keys";
import {
  api,
  bigBytes,
  bytes,
  crc32,
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
  sha256,
  uploadedKeys,
  waitForStatus,
  type TestTerminal,
} from "./helpers";

const MiB = 1024 * 1024;

// ---- an independent ZIP reader (APPNOTE.TXT 6.3), written for these tests --------------------

interface ZipEntry {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  versionNeeded: number;
  dosTime: number;
  dosDate: number;
  localOffset: number;
  dataOffset: number;
  /** first byte after the entry's data and its data descriptor */
  end: number;
  data: Uint8Array;
}

function readZip(buf: Uint8Array): { entries: ZipEntry[]; centralOffset: number; centralSize: number; comment: number } {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  let eocd = -1;
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (u32(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("no end of central directory record");
  let count = u16(eocd + 10);
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0 || u16(eocd + 8) !== count) throw new Error("multi-disk archive");
  let centralSize = u32(eocd + 12);
  let centralOffset = u32(eocd + 16);
  const comment = u16(eocd + 20);
  if (eocd + 22 + comment !== buf.length) throw new Error("bytes after the end record");
  let centralEnd = eocd;
  if (eocd >= 20 && u32(eocd - 20) === 0x07064b50) {
    // ZIP64 end record, found through its locator
    const at = Number(dv.getBigUint64(eocd - 12, true));
    if (u32(at) !== 0x06064b50 || at !== eocd - 20 - 56) throw new Error("bad ZIP64 end record");
    count = Number(dv.getBigUint64(at + 32, true));
    centralSize = Number(dv.getBigUint64(at + 40, true));
    centralOffset = Number(dv.getBigUint64(at + 48, true));
    centralEnd = at;
  }
  if (centralOffset + centralSize !== centralEnd) throw new Error("central directory does not end at the end record");

  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const entries: ZipEntry[] = [];
  let p = centralOffset;
  for (let i = 0; i < count; i++) {
    if (u32(p) !== 0x02014b50) throw new Error(`central header ${i}: bad signature`);
    const flags = u16(p + 8);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    const nameBytes = buf.subarray(p + 46, p + 46 + nameLen);
    const ascii = nameBytes.every((b) => b < 0x80);
    if (!ascii && !(flags & 0x800)) throw new Error(`entry ${i}: non-ASCII name without the UTF-8 flag`);
    const name = decoder.decode(nameBytes);
    const e = {
      name,
      flags,
      versionNeeded: u16(p + 6),
      method: u16(p + 10),
      dosTime: u16(p + 12),
      dosDate: u16(p + 14),
      crc: u32(p + 16),
      compressedSize: u32(p + 20),
      size: u32(p + 24),
      localOffset: u32(p + 42),
    };
    p += 46 + nameLen + extraLen + commentLen;

    // the local header must agree with the central one
    const l = e.localOffset;
    if (u32(l) !== 0x04034b50) throw new Error(`${name}: bad local header signature at ${l}`);
    const lFlags = u16(l + 6);
    const lNameLen = u16(l + 26);
    const lExtraLen = u16(l + 28);
    if (decoder.decode(buf.subarray(l + 30, l + 30 + lNameLen)) !== name) throw new Error(`${name}: local name differs`);
    if (u16(l + 8) !== e.method) throw new Error(`${name}: local method differs`);
    if ((lFlags & 0x808) !== (flags & 0x808)) throw new Error(`${name}: local flags differ`);
    if (u16(l + 10) !== e.dosTime || u16(l + 12) !== e.dosDate) throw new Error(`${name}: local date/time differs`);
    const dataOffset = l + 30 + lNameLen + lExtraLen;
    if (!(lFlags & 0x8)) {
      if (u32(l + 14) !== e.crc || u32(l + 18) !== e.compressedSize || u32(l + 22) !== e.size) {
        throw new Error(`${name}: local crc/sizes differ`);
      }
    }
    let end = dataOffset + e.compressedSize;
    if (lFlags & 0x8) {
      // data descriptor, with or without its optional signature
      let d = end;
      if (u32(d) === 0x08074b50) d += 4;
      if (u32(d) !== e.crc || u32(d + 4) !== e.compressedSize || u32(d + 8) !== e.size) {
        throw new Error(`${name}: data descriptor differs from the central directory`);
      }
      end = d + 12;
    }
    entries.push({ ...e, dataOffset, end, data: buf.subarray(dataOffset, dataOffset + e.compressedSize) });
  }
  if (p !== centralOffset + centralSize) throw new Error("central directory size mismatch");
  return { entries, centralOffset, centralSize, comment };
}

/** The usual structural checks of a pushdrop package: contiguous entries, stored, CRCs right. */
function checkStructure(zip: ReturnType<typeof readZip>, total: number) {
  let expectOffset = 0;
  for (const e of zip.entries) {
    expect(e.localOffset, `${e.name} starts where the previous entry ended`).toBe(expectOffset);
    expect(e.method, `${e.name} is stored`).toBe(0);
    expect(e.compressedSize).toBe(e.size);
    expect(e.versionNeeded).toBeLessThan(45); // no ZIP64 needed
    expect(crc32(e.data), `${e.name} CRC-32`).toBe(e.crc);
    expectOffset = e.end;
  }
  expect(zip.centralOffset).toBe(expectOffset);
  expect(zip.centralOffset + zip.centralSize + 22 + zip.comment).toBe(total);
}

/**
 * Every entry (the manifest too) is stamped with exactly this moment: the MS-DOS date and time
 * fields (APPNOTE 4.4.6; UTC), central and local (readZip checks they agree), compared bit for
 * bit. Tests that mean to catch a package stamped with the time it was built give `ms` far from now.
 */
function expectStampedAt(zip: ReturnType<typeof readZip>, ms: number) {
  const d = new Date(ms);
  const date = ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate();
  const time = (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1);
  for (const e of zip.entries) expect([e.name, e.dosDate, e.dosTime]).toEqual([e.name, date, time]);
}

// ---- set-up helpers -----------------------------------------------------------------------

let alice: TestTerminal;
let bob: TestTerminal;
let carol: TestTerminal;

beforeAll(async () => {
  alice = await register("Alice Ä");
  bob = await register("Bob");
  carol = await register("Carol");
});

/**
 * A transfer in `packaging` whose files are in R2, with no queue message sent: the test
 * decides when (and how often) the consumer runs.
 */
const stagedTransfer = (files: Array<{ name: string; data: Uint8Array; type?: string }>, to = [bob], extra: Record<string, unknown> = {}) =>
  stageTransfer(alice, to, files, { extra });

async function runBatch(queue: string, transferIds: Array<string | unknown>, e: Env = env) {
  const batch = createMessageBatch<Job>(
    queue,
    transferIds.map((id, i) => ({
      id: `m${i}-${Math.random()}`,
      timestamp: new Date(),
      attempts: 1,
      body: (typeof id === "string" ? { kind: "package", transferId: id } : id) as Job,
    })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, e);
  return getQueueResult(batch, ctx);
}

const fileRows = (id: string) =>
  env.DB.prepare("SELECT * FROM transfer_files WHERE transfer_id = ? ORDER BY idx").bind(id).all<any>().then((r) => r.results);

// ---- the tests ----------------------------------------------------------------------------

/** `env` whose R2 binding has one method replaced (the rest as they are). */
function withBucket(prop: keyof R2Bucket, replacement: (...args: any[]) => unknown): Env {
  const bucket = new Proxy(env.BUCKET, {
    get(target, p) {
      if (p === prop) return replacement;
      const v = Reflect.get(target, p);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { ...env, BUCKET: bucket } as unknown as Env;
}

/** The package as a download puts it together: the frame with each file's bytes at its data offset. */
function assemble(r: PackageResult, data: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(r.size);
  let from = 0;
  let to = 0;
  for (const e of [...r.entries].sort((a, b) => a.data_offset - b.data_offset)) {
    const gap = e.data_offset - to;
    out.set(r.frame.subarray(from, from + gap), to);
    from += gap;
    out.set(data[e.idx]!, e.data_offset);
    to = e.data_offset + e.stored_size;
  }
  out.set(r.frame.subarray(from), to);
  return out;
}

/** Each file's bytes as one stream, or as `pieces` streams (as if it had that many parts). */
const sources = (data: Uint8Array[], pieces = 1): OpenFile =>
  async function* (f) {
    const d = data[f.idx]!;
    const step = Math.ceil(d.byteLength / pieces) || 1;
    for (let o = 0; o < d.byteLength; o += step) yield new Blob([d.subarray(o, o + step)]).stream();
  };

describe("the packager", () => {
  it("files of one and of several parts: an independent reader finds every entry where D1 says", async () => {
    const files = [
      { name: "photo.jpg", data: bigBytes(12 * MiB + 333, 1), type: "image/jpeg" },
      { name: "Ünïcødé 文件 🎉.bin", data: bigBytes(9 * MiB + 7, 2) },
      { name: "notes/readme.txt", data: new TextEncoder().encode("hello, zip\n".repeat(300)) },
      { name: "empty.txt", data: new Uint8Array(0) },
      { name: "archive.zip", data: bytes(4099, 3), type: "application/zip" },
    ];
    const message = "Here you go ✓ \"quoted\"";
    const t = await sendFiles(alice, [bob], files, { message });

    const res = await api(`/v1/transfers/${t.id}/package`, { headers: alice.auth });
    expect(res.status).toBe(200);
    const buf = new Uint8Array(await res.arrayBuffer());
    expect(buf.byteLength).toBe(t.package.size);
    expect(await sha256(buf)).toBe(t.package.sha256);
    // the stored frame holds every byte but the files' own
    const frame = await env.BUCKET.head(frameKey(t.id));
    expect(frame?.size).toBe(t.package.size - files.reduce((n, f) => n + f.data.byteLength, 0));

    const zip = readZip(buf);
    checkStructure(zip, buf.byteLength);
    expect(zip.entries.map((e) => e.name)).toEqual([...files.map((f) => f.name), "manifest.json"]);

    const rows = await fileRows(t.id);
    for (let i = 0; i < files.length; i++) {
      const e = zip.entries[i]!;
      const f = files[i]!;
      const r = rows[i];
      const digest = await sha256(f.data);
      expect(e.size).toBe(f.data.byteLength);
      expect(await sha256(e.data)).toBe(digest);
      expect(e.crc).toBe(crc32(f.data));
      // what D1 recorded is what is in the archive
      expect(r.data_offset, `${f.name} data_offset`).toBe(e.dataOffset);
      expect(r.stored_size).toBe(e.compressedSize);
      expect(r.method).toBe(e.method);
      expect(r.crc32 >>> 0).toBe(e.crc);
      expect(r.sha256).toBe(digest);
      expect(t.files[i].sha256).toBe(digest);
    }
    // entry times are the transfer's creation time (deterministic packages)
    expectStampedAt(zip, Date.parse(t.createdAt));
    // a file's bytes are a range of the package at its offset
    const slice = await api(`/v1/transfers/${t.id}/package`, { headers: { ...alice.auth, range: `bytes=${rows[1].data_offset}-${rows[1].data_offset + 1023}` } });
    expect(await sha256(await slice.arrayBuffer())).toBe(await sha256(files[1]!.data.subarray(0, 1024)));

    const manifest = JSON.parse(new TextDecoder().decode(zip.entries.at(-1)!.data));
    expect(manifest).toEqual({
      pushdrop: 1,
      transferId: t.id,
      createdAt: t.createdAt,
      from: { id: alice.id, name: "Alice Ä" },
      message,
      files: await Promise.all(
        files.map(async (f, i) => ({
          index: i,
          name: f.name,
          size: f.data.byteLength,
          type: f.type ?? t.files[i].type,
          sha256: await sha256(f.data),
        })),
      ),
    });
    expect(manifest.files[2].type).toBe("text/plain");

    // no copy: the uploaded objects are the package's file bytes (one for each non-empty file)
    expect(await uploadedKeys(t.id)).toHaveLength(4);
  });

  it("a file of several parts, read back across part boundaries by any range", async () => {
    const data = bigBytes(40 * MiB + 17, 7);
    const t = await stageTransfer(alice, [bob], [{ name: "a.txt", data: bytes(100, 8) }, { name: "big.bin", data }]);
    await packageTransfer(env, t.id);
    const r = await row(t.id);
    const [, big] = await fileRows(t.id);
    expect(await uploadedKeys(t.id)).toHaveLength(4); // 1 + 3 parts
    const whole = new Uint8Array(await (await api(`/v1/transfers/${t.id}/package`, { headers: alice.auth })).arrayBuffer());
    expect(await sha256(whole)).toBe(r.package_sha256);
    checkStructure(readZip(whole), whole.byteLength);
    const P = 16 * MiB;
    for (const [a, b] of [[P - 5, P + 5], [0, 2 * P + 3], [2 * P, 40 * MiB + 16], [100, 100]] as const) {
      const res = await api(`/v1/transfers/${t.id}/files/1`, { headers: { ...alice.auth, range: `bytes=${a}-${b}` } });
      expect(res.status).toBe(206);
      expect(await sha256(await res.arrayBuffer()), `${a}-${b}`).toBe(await sha256(data.subarray(a, b + 1)));
      const off = big.data_offset;
      const pkg = await api(`/v1/transfers/${t.id}/package`, { headers: { ...alice.auth, range: `bytes=${off + a - 40}-${off + b}` } });
      expect(await sha256(await pkg.arrayBuffer())).toBe(await sha256(whole.subarray(off + a - 40, off + b + 1)));
    }
  });

  it("writes the same bytes every time, however the sources are cut; frame + file bytes = a valid ZIP", async () => {
    const input: PackageInput = {
      transferId: "AAAAAAAAAAAAAAAAAAAAAA",
      createdAt: Date.UTC(2025, 0, 2, 3, 4, 6),
      from: { id: "123456789", name: "x" },
      message: null,
      files: [
        { idx: 0, name: "a.bin", size: 3 * MiB + 1, type: "application/octet-stream" },
        { idx: 1, name: "b.txt", size: 0, type: "text/plain" },
        { idx: 2, name: "c/d.bin", size: 70_000, type: "application/octet-stream" },
      ],
    };
    const data = [bigBytes(3 * MiB + 1, 4), new Uint8Array(0), bytes(70_000, 5)];
    const chunked = (d: Uint8Array) => {
      let o = 0;
      return new ReadableStream<Uint8Array>({
        pull(c) {
          if (o >= d.byteLength) return c.close();
          const n = 1 + ((o * 7919) % 40_000); // uneven chunks, from JavaScript (not a byte stream)
          c.enqueue(d.slice(o, o + n));
          o += n;
        },
      });
    };
    const a = await buildPackage(input, sources(data));
    const b = await buildPackage(input, sources(data, 3));
    const c = await buildPackage(input, async function* (f) {
      if (data[f.idx]!.byteLength > 0) yield chunked(data[f.idx]!);
    });
    for (const other of [b, c]) {
      expect(other.sha256).toBe(a.sha256);
      expect(other.size).toBe(a.size);
      expect(other.entries).toEqual(a.entries);
    }
    const whole = assemble(a, data);
    expect(await sha256(whole)).toBe(a.sha256);
    const zip = readZip(whole);
    checkStructure(zip, whole.byteLength);
    expect(zip.entries.map((e) => e.dataOffset)).toEqual([...a.entries.map((e) => e.data_offset), zip.entries.at(-1)!.dataOffset]);
    expect(a.entries.map((e) => e.crc32 >>> 0)).toEqual(data.map(crc32));
    // stamped with the input's creation time (2025-01-02 03:04:06), not with when it was built
    expectStampedAt(zip, input.createdAt);
    expect([zip.entries[0]!.dosDate, zip.entries[0]!.dosTime]).toEqual([(45 << 9) | (1 << 5) | 2, (3 << 11) | (4 << 5) | (6 >> 1)]);
  });

  it("packageOverhead is an upper bound of what the package adds, even for the longest names and types", async () => {
    const type = "application/" + "x".repeat(255 - "application/".length);
    // short names with the longest type leave the least slack for the per-file manifest line
    const short = Array.from({ length: 1000 }, (_, i) => String(i));
    // and names that JSON escapes the most (quotes: two bytes each in the manifest)
    const quoted = Array.from({ length: 1000 }, (_, i) => `${'"'.repeat(250)}${i}`);
    const message = "\u0001\"\n".repeat(333) + "x";
    const { packageOverhead } = await import("../../src/package/zip");
    for (const names of [short, quoted]) {
      const input: PackageInput = {
        transferId: "AAAAAAAAAAAAAAAAAAAAAA",
        createdAt: Date.UTC(2025, 5, 1),
        from: { id: "123456789", name: "🙂".repeat(32) },
        message,
        files: names.map((n, i) => ({ idx: i, name: n, size: 0, type })),
      };
      const result = await buildPackage(input, async function* () {});
      // every file is empty: the package is all overhead
      expect(result.size).toBeLessThanOrEqual(packageOverhead(names, message));
    }
  });

  it("refuses a source with more or fewer bytes than declared", async () => {
    const input = (size: number): PackageInput => ({
      transferId: "AAAAAAAAAAAAAAAAAAAAAA",
      createdAt: Date.UTC(2025, 5, 1),
      from: { id: "123456789", name: "x" },
      message: null,
      files: [{ idx: 0, name: "a", size, type: "application/octet-stream" }],
    });
    const src = sources([bytes(100)]);
    await expect(buildPackage(input(99), src)).rejects.toBeInstanceOf(PackageSourceError);
    await expect(buildPackage(input(101), src)).rejects.toBeInstanceOf(PackageSourceError);
  });
});

describe("a transfer of empty files only", () => {
  it("is packaged without any upload and serves empty files", async () => {
    const res = await createTransfer(alice, { to: [bob.id], files: [{ name: "a.txt", size: 0 }, { name: "b/c.txt", size: 0 }] });
    expect(res.status).toBe(201);
    const created = await json(res);
    expect(["packaging", "ready"]).toContain(created.status);
    expect(created.files.map((f: any) => f.received)).toEqual([0, 0]);
    const t = await waitForStatus(bob, created.id);
    const buf = new Uint8Array(await (await api(`/v1/transfers/${t.id}/package`, { headers: alice.auth })).arrayBuffer());
    const zip = readZip(buf);
    checkStructure(zip, buf.byteLength);
    expect(zip.entries.map((e) => [e.name, e.size])).toEqual([["a.txt", 0], ["b/c.txt", 0], ["manifest.json", zip.entries[2]!.size]]);
    const empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    expect(t.files.map((f: any) => f.sha256)).toEqual([empty, empty]);
    const file = await api(`/v1/transfers/${t.id}/files/1`, { headers: bob.auth });
    expect(file.status).toBe(200);
    expect((await file.arrayBuffer()).byteLength).toBe(0);
  });
});

describe("packaging is idempotent", () => {
  it("the same message delivered twice: one package, same sha256, one transfer.ready per recipient", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "a.txt", data: bytes(5000, 8) }, { name: "b.bin", data: bytes(3000, 9) }]);
    await eventually(async () => ((await outboxOf(carol.id)).some((r) => r.transfer_id === t.id) ? true : undefined));
    const before = await env.BUCKET.head(frameKey(t.id));
    const rowsBefore = await fileRows(t.id);

    const result = await runBatch("pushdrop-jobs", [t.id, t.id]);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(2);

    const after = await getTransfer(alice, t.id);
    expect(after.status).toBe("ready");
    expect(after.package).toEqual(t.package);
    const obj = await env.BUCKET.head(frameKey(t.id));
    expect(obj?.etag).toBe(before?.etag);
    expect(obj?.uploaded.getTime()).toBe(before?.uploaded.getTime());
    expect(await fileRows(t.id)).toEqual(rowsBefore);
    for (const who of [bob, carol]) {
      const ready = (await outboxOf(who.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.ready");
      expect(ready).toHaveLength(1);
      expect(ready[0]!.id).toBe(`${t.id}.ready`);
    }
  });

  it("a retry after a crash half way rebuilds the identical package and notifies once", async () => {
    const files = [{ name: "x.bin", data: bigBytes(9 * MiB, 12) }, { name: "y.txt", data: bytes(10, 13) }];
    const t = await stagedTransfer(files);
    // created a day ago, so that a package stamped with the time of an attempt instead of the creation time cannot pass
    const createdAt = Date.now() - 86_400_000 - 1234;
    await env.DB.prepare("UPDATE transfers SET created_at = ? WHERE id = ?").bind(createdAt, t.id).run();
    // a first attempt that died after writing a wrong frame
    await env.BUCKET.put(frameKey(t.id), bytes(100, 14));

    await packageTransfer(env, t.id);
    const first = await row(t.id);
    expect(first.status).toBe("ready");
    const pkg1 = new Uint8Array(await (await api(`/v1/transfers/${t.id}/package`, { headers: alice.auth })).arrayBuffer());
    expect(await sha256(pkg1)).toBe(first.package_sha256);

    // again, as if the message came back after the package was made but before the ack
    await packageTransfer(env, t.id);
    expect((await row(t.id)).package_sha256).toBe(first.package_sha256);

    // and as if packaging had to run again from the start: same bytes
    await env.DB.prepare("UPDATE transfers SET status = 'packaging' WHERE id = ?").bind(t.id).run();
    await packageTransfer(env, t.id);
    const third = await row(t.id);
    expect(third.status).toBe("ready");
    expect(third.package_sha256).toBe(first.package_sha256);
    expect(third.package_size).toBe(first.package_size);
    const zip = readZip(pkg1);
    expectStampedAt(zip, createdAt);
    expect(JSON.parse(new TextDecoder().decode(zip.entries.at(-1)!.data)).createdAt).toBe(new Date(createdAt).toISOString());

    const ready = (await outboxOf(bob.id)).filter((r) => r.transfer_id === t.id);
    expect(ready.map((r) => r.type)).toEqual(["transfer.ready"]);
  });

  it("a cancel racing the ready notification leaves no pending transfer.ready", async () => {
    const t = await stagedTransfer([{ name: "r.txt", data: bytes(100, 15) }], [bob, carol]);
    // an env whose Terminal stubs let the sender cancel just before the first ready is queued
    let cancelled = false;
    const terminals = {
      idFromName: (n: string) => env.TERMINAL.idFromName(n),
      get(id: DurableObjectId) {
        const stub = env.TERMINAL.get(id);
        return new Proxy(stub, {
          get(target, prop) {
            if (prop !== "enqueue") return Reflect.get(target, prop);
            return async (terminalId: string, msg: any, opts: any) => {
              if (msg.type === "transfer.ready" && !cancelled) {
                cancelled = true;
                const del = await api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth });
                expect(del.status).toBe(204);
              }
              return target.enqueue(terminalId, msg, opts);
            };
          },
        });
      },
    };
    const result = await runBatch("pushdrop-jobs", [t.id], { ...env, TERMINAL: terminals } as unknown as Env);
    expect(result.retryMessages).toEqual([]);
    expect(cancelled).toBe(true);
    expect((await row(t.id)).status).toBe("cancelled");
    for (const who of [bob, carol]) {
      const rows = (await outboxOf(who.id)).filter((r) => r.transfer_id === t.id);
      expect(rows.filter((r) => r.type === "transfer.ready" && r.acked_at === null)).toEqual([]);
      expect(rows.filter((r) => r.type === "transfer.cancelled")).toHaveLength(1);
    }
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
  });
});

/** The R2 key of a file's part as D1 names it. */
const partObject = async (id: string, idx: number, part = 1) =>
  (await env.DB.prepare("SELECT object_key FROM file_parts WHERE transfer_id = ? AND idx = ? AND part = ?").bind(id, idx, part).first<any>()).object_key as string;

describe("when packaging cannot succeed", () => {
  it("a missing original: the transfer ends failed with a reason and the sender is told", async () => {
    const res = await createTransfer(alice, { to: [bob.id], files: [{ name: "a.bin", size: 1000 }, { name: "b.bin", size: 10 }] });
    const t = await json(res);
    expect((await putFile(alice, t.id, 0, bytes(1000))).status).toBe(200);
    await env.BUCKET.delete(await partObject(t.id, 0)); // lost, somehow
    expect((await putFile(alice, t.id, 1, bytes(10))).status).toBe(200); // → packaging → the real queue

    const failed = await waitForStatus(alice, t.id, "failed");
    expect(failed.failure).toMatch(/file 0.*missing/);
    expect(failed.package).toBeNull();
    const box = await eventually(async () => {
      const rows = (await outboxOf(alice.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.failed");
      return rows.length > 0 ? rows : undefined;
    });
    expect(box).toHaveLength(1);
    expect(box[0]!.body).toMatchObject({ type: "transfer.failed", transferId: t.id, reason: failed.failure });
    // the recipient hears nothing of it, and cannot download it
    expect((await outboxOf(bob.id)).filter((r) => r.transfer_id === t.id)).toEqual([]);
    const dl = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    expect(dl.status).toBe(409);
    expect((await json(dl)).error.code).toBe("transfer_failed");
    // no package frame was written
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
  });

  it("an original of the wrong length is a failure too, not a retry", async () => {
    const t = await stagedTransfer([{ name: "a.bin", data: bytes(100) }]);
    await env.BUCKET.put(await partObject(t.id, 0), bytes(99));
    const result = await runBatch("pushdrop-jobs", [t.id]);
    expect(result.retryMessages).toEqual([]);
    expect(result.explicitAcks).toHaveLength(1);
    const r = await row(t.id);
    expect(r.status).toBe("failed");
    expect(r.failure).toContain("99");
  });

  it("the dead-letter queue marks the transfer failed and tells the sender", async () => {
    const t = await stagedTransfer([{ name: "a.bin", data: bytes(100) }]);
    await env.DB.prepare("UPDATE transfers SET failure = ? WHERE id = ?").bind("packaging attempt 4 failed: R2 down", t.id).run();
    const result = await runBatch("pushdrop-jobs-dlq", [t.id]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    const r = await row(t.id);
    expect(r.status).toBe("failed");
    expect(r.failure).toBe("packaging attempt 4 failed: R2 down");
    const failed = (await outboxOf(alice.id)).filter((x) => x.transfer_id === t.id && x.type === "transfer.failed");
    expect(failed).toHaveLength(1);
    expect(failed[0]!.body.reason).toBe("packaging attempt 4 failed: R2 down");
    // nothing was packaged
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
  });

  it("a dead letter while another attempt holds a live lease leaves that attempt to finish", async () => {
    const t = await stagedTransfer([{ name: "a.bin", data: bytes(100) }]);
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(Date.now() + 60_000, t.id).run();
    const result = await runBatch("pushdrop-jobs-dlq", [t.id]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await row(t.id)).status).toBe("packaging");
    expect((await outboxOf(alice.id)).filter((x) => x.transfer_id === t.id && x.type === "transfer.failed")).toEqual([]);
    // once the lease has run out, a dead letter does end it
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(Date.now() - 1, t.id).run();
    await runBatch("pushdrop-jobs-dlq", [t.id]);
    expect((await row(t.id)).status).toBe("failed");
  });

  it("a dead letter for a transfer that did get packaged changes nothing", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "ok.txt", data: bytes(10) }]);
    const result = await runBatch("pushdrop-jobs-dlq", [t.id]);
    expect(result.explicitAcks).toHaveLength(1);
    expect((await row(t.id)).status).toBe("ready");
    expect((await outboxOf(alice.id)).filter((x) => x.transfer_id === t.id && x.type === "transfer.failed")).toEqual([]);
  });

  it("a transient error is retried (the message is not acked) and the next attempt succeeds", async () => {
    const t = await stagedTransfer([{ name: "a.bin", data: bytes(100) }]);
    const flaky = withBucket("put", async () => {
      throw new Error("R2 is having a bad day");
    });
    const result = await runBatch("pushdrop-jobs", [t.id], flaky);
    expect(result.retryMessages.map((m: { msgId: string }) => m.msgId)).toHaveLength(1);
    expect(result.explicitAcks).toEqual([]);
    const r = await row(t.id);
    expect(r.status).toBe("packaging");
    expect(r.failure).toMatch(/attempt 1 failed: R2 is having a bad day/);

    const ok = await runBatch("pushdrop-jobs", [t.id]);
    expect(ok.explicitAcks).toHaveLength(1);
    expect((await row(t.id)).status).toBe("ready");
  });

  it("a malformed job is acked and dropped", async () => {
    const result = await runBatch("pushdrop-jobs", [{ kind: "nonsense" }, null, { kind: "package", transferId: 42 }]);
    expect(result.explicitAcks).toHaveLength(3);
    expect(result.retryMessages).toEqual([]);
    // and a job for a transfer that does not exist is simply done
    const gone = await runBatch("pushdrop-jobs", ["AAAAAAAAAAAAAAAAAAAAAA"]);
    expect(gone.explicitAcks).toHaveLength(1);
  });
});

describe("packaging a small transfer inline", () => {
  it("runs after the response with a short lease; if it fails, the queue takes over; a large or many-file transfer goes to the queue", async () => {
    const t = await stagedTransfer([{ name: "small.txt", data: bytes(1000, 71) }]);
    let puts = 0;
    let lease: number | null = null;
    const flaky = withBucket("put", async (...args: Parameters<R2Bucket["put"]>) => {
      lease = (await row(t.id)).package_lease_until;
      if (puts++ === 0) throw new Error("R2 hiccup");
      return env.BUCKET.put(...args);
    });
    const deferred: Promise<unknown>[] = [];
    const sent: string[] = [];
    const jobs = { send: (job: { transferId: string }, opts?: QueueSendOptions) => (sent.push(job.transferId), env.JOBS.send(job, opts)) };
    await packageSoon({ ...flaky, JOBS: jobs } as unknown as Env, t.id, 1000, 1, (p) => void deferred.push(p));
    expect(deferred).toHaveLength(1);
    await Promise.all(deferred);
    expect(lease).toBeGreaterThan(Date.now());
    expect(lease).toBeLessThanOrEqual(Date.now() + INLINE_LEASE_MS);
    // the inline attempt failed, let go of its lease and queued the job, which packaged it
    expect(sent).toEqual([t.id]);
    await waitForStatus(alice, t.id);
    expect((await outboxOf(bob.id)).filter((x) => x.transfer_id === t.id && x.type === "transfer.ready")).toHaveLength(1);

    // past 1 MiB, or past 32 files: the queue, nothing deferred
    const big: Promise<unknown>[] = [];
    const queued: string[] = [];
    const q = { send: async (job: { transferId: string }) => void queued.push(job.transferId) };
    await packageSoon({ ...env, JOBS: q } as unknown as Env, "AAAAAAAAAAAAAAAAAAAAAA", 1024 * 1024 + 1, 1, (p) => void big.push(p));
    await packageSoon({ ...env, JOBS: q } as unknown as Env, "BBBBBBBBBBBBBBBBBBBBBB", 1000, 33, (p) => void big.push(p));
    expect(big).toEqual([]);
    expect(queued).toEqual(["AAAAAAAAAAAAAAAAAAAAAA", "BBBBBBBBBBBBBBBBBBBBBB"]);
  });
});

describe("the packaging lease", () => {
  /** `env` with an R2 binding that counts frame writes (puts). */
  function watched() {
    const seen = { puts: 0 };
    const e = withBucket("put", (...args: Parameters<R2Bucket["put"]>) => {
      seen.puts++;
      return env.BUCKET.put(...args);
    });
    return { env: e, seen };
  }

  /** The sha256 one lone run of the packager gives for this transfer (built in memory). */
  async function singleRunSha(id: string, data: Uint8Array[]) {
    const r = await row(id);
    const input: PackageInput = {
      transferId: id,
      createdAt: r.created_at,
      from: { id: r.sender_id, name: r.sender_name },
      message: r.message,
      files: (await fileRows(id)).map((f: any) => ({ idx: f.idx, name: f.name, size: f.size, type: f.type })),
    };
    return (await buildPackage(input, sources(data))).sha256;
  }

  /** A packaged transfer as it must end: ready, its download matching D1, no lease left, one ready each. */
  async function expectPackagedOnce(id: string, expectedSha: string, recipients: TestTerminal[]) {
    const r = await row(id);
    expect(r.status).toBe("ready");
    expect(r.package_sha256).toBe(expectedSha);
    expect(r.package_lease_until).toBeNull();
    const res = await api(`/v1/transfers/${id}/package`, { headers: alice.auth });
    const buf = new Uint8Array(await res.arrayBuffer());
    expect(buf.byteLength).toBe(r.package_size);
    expect(await sha256(buf)).toBe(expectedSha);
    for (const who of recipients) {
      const ready = (await outboxOf(who.id)).filter((x) => x.transfer_id === id && x.type === "transfer.ready");
      expect(ready.map((x) => x.id), who.name).toEqual([`${id}.ready`]);
    }
  }

  it("two attempts at once: one writes the package, the other finds the lease taken; one package, same sha256 as a lone run", async () => {
    const data = [bigBytes(9 * MiB + 5, 31), bytes(2000, 32)];
    const t = await stagedTransfer([{ name: "big.bin", data: data[0]! }, { name: "small.txt", data: data[1]! }], [bob, carol]);
    const expected = await singleRunSha(t.id, data);
    const w = watched();

    const outcomes = await Promise.all([packageTransfer(w.env, t.id), packageTransfer(w.env, t.id)]);
    expect(outcomes.filter((o) => o === "busy")).toHaveLength(1);
    // only the holder wrote the frame
    expect(w.seen.puts).toBe(1);
    await expectPackagedOnce(t.id, expected, [bob, carol]);
    expect((await outboxOf(alice.id)).filter((x) => x.transfer_id === t.id && x.type === "transfer.failed")).toEqual([]);
  });

  it("the same job twice in one batch, and in two batches at once: every message acked, none retried, one package", async () => {
    const data = [bytes(70_000, 33)];
    const one = await stagedTransfer([{ name: "one.bin", data: data[0]! }], [bob, carol]);
    const w1 = watched();
    const inOne = await runBatch("pushdrop-jobs", [one.id, one.id], w1.env);
    expect(inOne.retryMessages).toEqual([]);
    expect(inOne.explicitAcks).toHaveLength(2);
    expect(w1.seen.puts).toBe(1);
    await expectPackagedOnce(one.id, await singleRunSha(one.id, data), [bob, carol]);

    const two = await stagedTransfer([{ name: "two.bin", data: data[0]! }], [bob, carol]);
    const w2 = watched();
    const both = await Promise.all([runBatch("pushdrop-jobs", [two.id], w2.env), runBatch("pushdrop-jobs", [two.id], w2.env)]);
    for (const result of both) {
      expect(result.retryMessages).toEqual([]);
      expect(result.explicitAcks).toHaveLength(1);
    }
    expect(w2.seen.puts).toBe(1);
    await expectPackagedOnce(two.id, await singleRunSha(two.id, data), [bob, carol]);
  });

  it("an attempt that finds a live lease writes nothing and acks (no step toward the dead-letter queue)", async () => {
    const t = await stagedTransfer([{ name: "held.bin", data: bytes(5000, 34) }]);
    // another attempt holds the lease and is at work
    const lease = Date.now() + PACKAGE_LEASE_MS - 1000;
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(lease, t.id).run();

    const w = watched();
    const result = await runBatch("pushdrop-jobs", [t.id, t.id], w.env);
    expect(result.explicitAcks).toHaveLength(2);
    expect(result.retryMessages).toEqual([]);
    expect(w.seen.puts).toBe(0);
    const r = await row(t.id);
    expect(r.status).toBe("packaging");
    expect(r.package_lease_until).toBe(lease);
    expect(r.failure).toBeNull();
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
    expect(await uploadedKeys(t.id)).toHaveLength(1);
    expect((await outboxOf(bob.id)).filter((x) => x.transfer_id === t.id)).toEqual([]);
  });

  it("an expired lease is taken over and the package written", async () => {
    const data = [bytes(12_345, 37)];
    const t = await stagedTransfer([{ name: "orphan.bin", data: data[0]! }], [bob]);
    await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(Date.now() - 1000, t.id).run();
    const result = await runBatch("pushdrop-jobs", [t.id]);
    expect(result.explicitAcks).toHaveLength(1);
    expect(result.retryMessages).toEqual([]);
    await expectPackagedOnce(t.id, await singleRunSha(t.id, data), [bob]);
  });

  it("an attempt that throws lets go of its lease, so its retry takes over at once", async () => {
    const data = [bytes(4000, 39)];
    const t = await stagedTransfer([{ name: "flaky.bin", data: data[0]! }], [bob]);
    let leaseDuringAttempt: number | null = null;
    const flaky = withBucket("get", async () => {
      leaseDuringAttempt = (await row(t.id)).package_lease_until;
      throw new Error("R2 read timed out");
    });
    const failed = await runBatch("pushdrop-jobs", [t.id], flaky);
    expect(failed.retryMessages).toHaveLength(1);
    expect(failed.explicitAcks).toEqual([]);
    expect(leaseDuringAttempt).toBeGreaterThan(Date.now());
    const r = await row(t.id);
    expect(r.status).toBe("packaging");
    expect(r.package_lease_until).toBeNull();
    expect(r.failure).toMatch(/attempt 1 failed: R2 read timed out/);

    // the retry, right away: it gets the lease and packages
    const retry = await runBatch("pushdrop-jobs", [t.id]);
    expect(retry.explicitAcks).toHaveLength(1);
    await expectPackagedOnce(t.id, await singleRunSha(t.id, data), [bob]);
  });

  it("an attempt that throws after its lease was taken over leaves the new holder's lease alone", async () => {
    const t = await stagedTransfer([{ name: "slow.bin", data: bytes(4000, 40) }]);
    const successor = Date.now() + PACKAGE_LEASE_MS + 60_000;
    const overtaken = withBucket("get", async () => {
      // as if this attempt had outlived its lease and another had claimed it since
      await env.DB.prepare("UPDATE transfers SET package_lease_until = ? WHERE id = ?").bind(successor, t.id).run();
      throw new Error("too slow");
    });
    await expect(packageTransfer(overtaken, t.id)).rejects.toThrow("too slow");
    expect((await row(t.id)).package_lease_until).toBe(successor);
    // and while that lease is live, a new attempt stays out of the way
    expect(await packageTransfer(env, t.id)).toBe("busy");
  });
});
