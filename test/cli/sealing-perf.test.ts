import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity, openSeal, openStream, type SealDraft } from "../../client/seal";
import { specsOf, SpoolWriter, unsealedDraft, type SpoolState } from "../../cli/sealing";
import type { Transfer } from "../../src/contract";

/**
 * cli/sealing.ts SpoolWriter: a sealed send's spool written while its parts go up. A part's bytes
 * count as there once they are in the spool, a file's last bytes only once the record says the
 * file is sealed whole; a run stopped while sealing leaves a state from which the next run seals
 * only the file that was cut (again, whole) and keeps the files sealed before.
 */

const MiB = 1024 * 1024;
const root = mkdtempSync(path.join(tmpdir(), "sealing-perf-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const ID = "CCCCCCCCCCCCCCCCCCCCCC";
const head = { from: "123456786", to: ["578418129"], message: "hello" };

async function opened(file: string, identity: string, expected: { size: number; sha256: string }): Promise<Buffer> {
  const plain = await openStream(new Blob([readFileSync(file)]).stream() as unknown as ReadableStream<Uint8Array>, [identity], expected);
  return Buffer.from(await new Response(plain).arrayBuffer());
}

describe("SpoolWriter", () => {
  it("a part's bytes are ready once they are in the spool; a file's last bytes only after the record has its SHA-256", async () => {
    const me = await generateIdentity();
    const src = path.join(root, "a.bin");
    const bytes = randomBytes(5 * MiB + 9);
    writeFileSync(src, bytes);
    const files = [{ path: src, name: "a.bin", size: bytes.length, mtimeMs: statSync(src).mtimeMs }];
    const spool = path.join(root, "spool-1");
    mkdirSync(spool);
    const draft = unsealedDraft(files, head);
    const sizes = specsOf(draft, 1).map((s) => s.size);
    const records: SpoolState[] = [];
    const w = new SpoolWriter({ spool, draft, recipients: [me.recipient] }, files, ID, sizes, (s) => records.push(structuredClone(s)));
    const events: string[] = [];
    const early = w.ready(0, MiB).then(() => events.push(`1 MiB ready, ${statSync(w.pathOf(0)).size} bytes in the spool`));
    const last = w.ready(0, sizes[0]!).then(() => events.push(`last ready, records ${records.length}`));
    const seal = w.ready(1, sizes[1]!).then(() => events.push("seal ready"));
    const done = await w.run([me.recipient]);
    await Promise.all([early, last, seal]);
    expect(Number(/(\d+) bytes/.exec(events[0]!)![1])).toBeGreaterThanOrEqual(MiB);
    expect(events.slice(1)).toEqual(["last ready, records 1", "seal ready"]);
    expect(records[0]!.draft.files[0]!.sha256).toBe(sha(bytes)); // the record knew before the last bytes counted
    expect(records[1]!.sealDone).toBe(true);
    expect(done.files[0]!.sha256).toBe(sha(bytes));
    expect(statSync(w.pathOf(0)).size).toBe(sizes[0]);
    expect((await opened(w.pathOf(0), me.identity, { size: bytes.length, sha256: sha(bytes) })).equals(bytes)).toBe(true);
    const transfer = { id: ID, sealed: true, message: null, from: { id: head.from }, to: head.to, files: sizes.map((size, index) => ({ index, size, name: index === 0 ? "1.age" : "seal.age" })) } as unknown as Transfer;
    const doc = await openSeal(new Blob([readFileSync(w.pathOf(1))]).stream() as unknown as ReadableStream<Uint8Array>, [me.identity], transfer);
    expect(doc.files[0]).toMatchObject({ name: "a.bin", size: bytes.length, sha256: sha(bytes) });
    expect(doc.message).toBe("hello");
  });

  it("stopped while sealing the second file: the next run keeps the first (same bytes) and seals the second again, whole", async () => {
    const me = await generateIdentity();
    const files = ["x.bin", "y.bin"].map((name, k) => {
      const p = path.join(root, `2-${name}`);
      writeFileSync(p, randomBytes((k + 2) * MiB + 5));
      return { path: p, name, size: statSync(p).size, mtimeMs: statSync(p).mtimeMs };
    });
    const spool = path.join(root, "spool-2");
    mkdirSync(spool);
    const draft: SealDraft = unsealedDraft(files, head);
    const sizes = specsOf(draft, 1).map((s) => s.size);
    let record: SpoolState = { spool, draft, recipients: [me.recipient], sources: files };
    const first = new SpoolWriter(record, files, ID, sizes, (s) => (record = structuredClone(s)));
    void first.ready(1, MiB).then(() => first.stop()); // cut a MiB into y.bin
    await expect(first.run([me.recipient])).rejects.toThrow(/stopped/);
    const xAged = sha(readFileSync(first.pathOf(0)));
    expect(record.draft.files.map((f) => f.sha256 !== "")).toEqual([true, false]);
    expect(statSync(first.pathOf(1)).size).toBeLessThan(sizes[1]!);

    const second = new SpoolWriter(record, files, ID, sizes, (s) => (record = structuredClone(s)));
    expect(second.unsealed).toEqual([1, 2]); // y.bin and seal.age; x.bin's parts on the server are kept
    const done = await second.run([me.recipient]);
    expect(sha(readFileSync(second.pathOf(0)))).toBe(xAged); // never sealed again
    expect(statSync(second.pathOf(1)).size).toBe(sizes[1]);
    for (const [k, f] of files.entries()) {
      const plain = readFileSync(f.path);
      expect(done.files[k]!.sha256).toBe(sha(plain));
      expect((await opened(second.pathOf(k), me.identity, { size: plain.length, sha256: sha(plain) })).equals(plain)).toBe(true);
    }
    expect(record.sealDone).toBe(true);
  });
});
