import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PushdropClient } from "../../client";
import fc from "fast-check";
import { downloadToFile, RangeCursor } from "../../cli/download";
import { OnePass } from "../../cli/onepass";
import { packageDownload } from "../../cli/temps";
import { packageOf, transferOf, type Entry } from "./support/package.ts";

/**
 * cli/onepass.ts as `get` uses it (the download's store): each file's bytes are written once,
 * to the file (the `.part` holds only the package's own bytes, stretched over the rest), and a
 * new run resumes a cut download by reading back what it holds once, then asks for the rest.
 */

const MiB = 1024 * 1024;
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const fresh = () => {
  const d = mkdtempSync(path.join(tmpdir(), "onepass-perf-"));
  dirs.push(d);
  return d;
};
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const ID = "BBBBBBBBBBBBBBBBBBBBBB";

const pkg = (entries: Entry[]) => packageOf(entries, '{"files":[]}');
const transfer = (files: Entry[]) => transferOf(ID, files);

/** Serves `bytes` from the offset asked; with `cutAt`, the body breaks off there (every try). */
function serving(bytes: Buffer, cutAt?: number) {
  const asked: number[] = [];
  const client = {
    async download(_p: string, { offset = 0 }: { offset?: number }) {
      asked.push(offset);
      const end = cutAt !== undefined && cutAt > offset ? cutAt : bytes.length;
      const rest = bytes.subarray(offset, end);
      let at = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at < rest.length) {
            const n = Math.min(rest.length - at, 64 * 1024 + 7);
            c.enqueue(rest.slice(at, at + n));
            at += n;
          } else if (end === bytes.length) c.close();
          else c.error(new Error("terminated"));
        },
      });
      const headers = offset > 0 ? { "content-range": `bytes ${offset}-${bytes.length - 1}/${bytes.length}` } : undefined;
      return new Response(body, { status: offset > 0 ? 206 : 200, headers });
    },
  } as unknown as PushdropClient;
  return { client, asked };
}

describe("one pass as the download's store", () => {
  const files = [
    { name: "a/one.bin", data: randomBytes(3 * MiB + 5) },
    { name: "empty", data: Buffer.alloc(0) },
    { name: "two.bin", data: randomBytes(2 * MiB + 77) },
  ];
  const bytes = pkg(files);
  const t = transfer(files);
  const opts = { size: bytes.length, sha256: sha(bytes), backoffMs: () => 1, tries: 1 };

  it("writes each file's bytes once: the .part holds only the package's own bytes (a sparse file)", async () => {
    const root = fresh();
    const part = packageDownload(root, ID);
    const pass = new OnePass(root, t, null, []);
    const { client } = serving(bytes);
    await downloadToFile(client, "/p", part, { ...opts, store: (fh) => pass.store(fh) });
    const st = statSync(part);
    expect(st.size).toBe(bytes.length);
    expect(st.blocks * 512).toBeLessThan(256 * 1024); // (5 MiB of file bytes are not in it)
    const saved = await pass.finish();
    expect(saved?.map((s) => s.name)).toEqual(files.map((f) => f.name));
    for (const f of files) expect(sha(readFileSync(path.join(root, f.name)))).toBe(sha(f.data));
  });

  it("a new run resumes a cut download from what is on disk, reading it back once, and lands the same bytes", async () => {
    const root = fresh();
    const part = packageDownload(root, ID);
    const cut = 4 * MiB + 123; // inside two.bin, after a/one.bin and empty are whole
    const first = serving(bytes, cut);
    const pass1 = new OnePass(root, t, null, []);
    const e = await downloadToFile(first.client, "/p", part, { ...opts, store: (fh) => pass1.store(fh) }).catch((x) => x);
    expect(String(e)).toMatch(/broke off|terminated/);
    await pass1.close(); // (as receivePackage does when the download can go on later)
    expect(statSync(part).size).toBeGreaterThan(3 * MiB);
    expect(statSync(part).size).toBeLessThanOrEqual(cut);
    expect(readdirSync(root).some((n) => n.endsWith(".unpacking"))).toBe(true); // two.bin, half way

    const held = statSync(part).size;
    const second = serving(bytes);
    const pass2 = new OnePass(root, t, null, []);
    const starts: Array<[number, number]> = [];
    await downloadToFile(second.client, "/p", part, { ...opts, store: (fh) => pass2.store(fh), onStart: (o, r) => starts.push([o, r]) });
    expect(starts).toEqual([[held, held]]); // read back once, then only the rest was asked for
    expect(second.asked).toEqual([held]);
    const saved = await pass2.finish();
    expect(saved).toHaveLength(3);
    for (const f of files) expect(sha(readFileSync(path.join(root, f.name)))).toBe(sha(f.data));
    expect(readdirSync(root).filter((n) => n.startsWith(".pushdrop-") && !n.endsWith(".zip.part"))).toEqual([]);
  });

  it("a resume whose temporary file is gone starts over from byte 0 (and still lands the right bytes)", async () => {
    const root = fresh();
    const part = packageDownload(root, ID);
    const first = serving(bytes, 4 * MiB + 123); // inside two.bin: the .part counts one.bin's bytes
    const pass1 = new OnePass(root, t, null, []);
    await downloadToFile(first.client, "/p", part, { ...opts, store: (fh) => pass1.store(fh) }).catch(() => undefined);
    await pass1.close();
    expect(statSync(part).size).toBeGreaterThan(3 * MiB);
    for (const n of readdirSync(path.join(root, "a"))) rmSync(path.join(root, "a", n)); // one.bin's .unpacking
    const second = serving(bytes);
    const pass2 = new OnePass(root, t, null, []);
    await downloadToFile(second.client, "/p", part, { ...opts, store: (fh) => pass2.store(fh) });
    expect(second.asked).toEqual([0]);
    await pass2.finish();
    for (const f of files) expect(sha(readFileSync(path.join(root, f.name)))).toBe(sha(f.data));
  });

  it("a package laid out otherwise than the transfer says is refused before that entry's bytes are written", async () => {
    const root = fresh();
    const part = packageDownload(root, ID);
    const other = transfer([{ name: "a/one.bin", data: files[0]!.data }, { name: "renamed", data: files[1]!.data }, files[2]!]);
    const pass = new OnePass(root, other, null, []);
    const e = await downloadToFile(serving(bytes).client, "/p", part, { ...opts, store: (fh) => pass.store(fh) }).catch((x) => x);
    expect(e).toMatchObject({ exitCode: 5, code: "bad_package" });
    pass.discard();
    expect(existsSync(path.join(root, "renamed"))).toBe(false);
    expect(readdirSync(root).filter((n) => n !== path.basename(part) && n !== "a")).toEqual([]);
  });
});

describe("a large download (its package hashed on a worker thread)", () => {
  it("checks out and lands the file; a package whose bytes are not its checksum is refused and leaves nothing", async () => {
    const files = [{ name: "big.bin", data: randomBytes(40 * MiB + 3) }];
    const bytes = pkg(files);
    const t = transfer(files);
    const root = fresh();
    const part = packageDownload(root, ID);
    const pass = new OnePass(root, t, null, []);
    await downloadToFile(serving(bytes).client, "/p", part, { size: bytes.length, sha256: sha(bytes), store: (fh) => pass.store(fh) });
    await pass.finish();
    expect(sha(readFileSync(path.join(root, "big.bin")))).toBe(sha(files[0]!.data));

    const root2 = fresh();
    const pass2 = new OnePass(root2, t, null, []);
    const e = await downloadToFile(serving(bytes).client, "/p", packageDownload(root2, ID), { size: bytes.length, sha256: "0".repeat(64), store: (fh) => pass2.store(fh) }).catch((x) => x);
    expect(e).toMatchObject({ exitCode: 5, code: "sha256_mismatch" });
    pass2.discard();
    expect(readdirSync(root2).filter((n) => n.endsWith(".unpacking") || n === "big.bin")).toEqual([]);
  });
});

describe("each file's SHA-256, computed by the download with the package's (on its worker for a large one)", () => {
  // over and under the 32 MiB from which the package is hashed on a worker thread; files that
  // cross the worker's 2 MiB slots, an empty one, one of a few bytes
  for (const [what, big] of [["on the main thread", 0], ["on the worker thread", 36 * MiB]] as const) {
    const files = [
      { name: "a.bin", data: randomBytes(big + 2 * MiB + 11) },
      { name: "empty", data: Buffer.alloc(0) },
      { name: "b/c.bin", data: randomBytes(5) },
      { name: "d.bin", data: randomBytes(3 * MiB + 1) },
    ];
    const bytes = pkg(files);

    it(`${what}: a connection that breaks off is retried in the same run from the byte it got to (no bytes read back), and every file lands`, async () => {
      const root = fresh();
      const pass = new OnePass(root, transfer(files), null, []);
      // cut inside a.bin, far from the .part's 16 MiB stretches, and not on a 64 KiB boundary
      const cut = big + MiB + 4321;
      // the first answer breaks off at `cut`, the next ones do not
      const once = serving(bytes, cut);
      const whole = serving(bytes);
      const asked: number[] = [];
      const client = {
        download: (p: string, o: { offset?: number }) => (asked.push(o.offset ?? 0), (asked.length === 1 ? once : whole).client.download(p, o)),
      } as unknown as PushdropClient;
      const starts: Array<[number, number]> = [];
      await downloadToFile(client, "/p", packageDownload(root, ID), {
        size: bytes.length,
        sha256: sha(bytes),
        tries: 3,
        backoffMs: () => 1,
        store: (fh) => pass.store(fh),
        onStart: (o, r) => starts.push([o, r]),
      });
      // the retry asks from what the first try wrote (whole batches: at most the cut), and reads
      // nothing back: the hash it carried covers those bytes
      expect(asked).toHaveLength(2);
      expect(asked[1]).toBeGreaterThan(0);
      expect(asked[1]).toBeLessThanOrEqual(cut);
      expect(starts).toEqual([[0, 0], [asked[1], 0]]);
      await pass.finish();
      for (const f of files) expect(sha(readFileSync(path.join(root, f.name)))).toBe(sha(f.data));
    });

    it(`${what}: every file lands with its bytes; a file whose bytes are not the API's SHA-256 (the package's are right) lands nothing`, async () => {
      const root = fresh();
      const pass = new OnePass(root, transfer(files), null, []);
      await downloadToFile(serving(bytes).client, "/p", packageDownload(root, ID), { size: bytes.length, sha256: sha(bytes), store: (fh) => pass.store(fh) });
      const saved = await pass.finish();
      expect(saved?.map((x) => x.name)).toEqual(files.map((f) => f.name));
      for (const f of files) expect(sha(readFileSync(path.join(root, f.name)))).toBe(sha(f.data));

      for (const wrong of [1, 3]) {
        const root2 = fresh();
        const t = transfer(files);
        (t.files[wrong] as { sha256: string }).sha256 = sha(Buffer.from("something else"));
        const pass2 = new OnePass(root2, t, null, []);
        const part = packageDownload(root2, ID);
        await downloadToFile(serving(bytes).client, "/p", part, { size: bytes.length, sha256: sha(bytes), store: (fh) => pass2.store(fh) });
        const e = await pass2.finish().catch((x) => x);
        expect(e).toMatchObject({ exitCode: 5, code: "sha256_mismatch", details: { name: files[wrong]!.name } });
        expect(readdirSync(root2).filter((n) => n !== path.basename(part))).toEqual([]);
      }
    });
  }

  it("RangeCursor: the sections of bytes given in any pieces are each range's bytes, in order", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 300 }), { maxLength: 8 }), // gaps and lengths, in turn
        fc.array(fc.integer({ min: 1, max: 97 }), { minLength: 1, maxLength: 40 }), // the pieces' sizes
        (cuts, pieces) => {
          const ranges: Array<{ start: number; end: number }> = [];
          let at = 0;
          for (let i = 0; i + 1 < cuts.length; i += 2) {
            ranges.push({ start: at + cuts[i]!, end: at + cuts[i]! + cuts[i + 1]! });
            at = ranges.at(-1)!.end;
          }
          const total = at + 50;
          const data = Buffer.from(Array.from({ length: total }, (_, i) => i & 255));
          const got = ranges.map(() => [] as Buffer[]);
          const cursor = new RangeCursor(ranges);
          for (let pos = 0, k = 0; pos < total; k++) {
            const n = Math.min(pieces[k % pieces.length]!, total - pos);
            for (const [j, from, to] of cursor.sections(pos, n)) got[j]!.push(data.subarray(pos + from, pos + to));
            pos += n;
          }
          ranges.forEach((r, j) => expect(Buffer.concat(got[j]!).equals(data.subarray(r.start, r.end))).toBe(true));
        },
      ),
      { numRuns: 300 },
    );
  });
});
