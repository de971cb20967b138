import { DurableObject } from "cloudflare:workers";
import { partCount } from "../receive/parts";
import { getObject, READ_AHEAD } from "../store/objects";
import { getTransferRecord, type TransferRecord } from "../store/transfers";
import { PackageBuilder, packageInput, type PackageFile, type PackageInput, type PackageResult } from "./build";

/**
 * Step 2, begun early: the package's checksums computed while the files are still being
 * uploaded. Packaging must read every byte and hash it twice with SHA-256 (each file's, for
 * the manifest; the package's, for its `sha256` and ETag) and once with CRC-32; done after
 * the last upload, that is what a recipient waits for (about 1.6 s a GiB here). Every
 * package entry is followed by a data descriptor, so the package's bytes up to the manifest
 * are fixed by the files' names and sizes alone: they can be hashed in order as the parts
 * arrive. One object per transfer (idFromName(transfer id)) does that, in memory only:
 *
 * - each stored part of a transfer that goes through the queue is offered to it
 *   (`partStored`, after D1 recorded the part); it reads the parts in package order as they
 *   become available, 1 MiB at a time, into a PackageBuilder, and waits for a missing one;
 * - the packager asks for the result (`take`) with the parts D1 names at packaging time.
 *   It gets the result only if every part it hashed is the object D1 names now (a part
 *   sent again replaces its object) and the files are the ones it began with (the manifest
 *   is written from the input given to `take`); otherwise, or when this object was evicted
 *   or restarted (nothing is stored), it gets null and reads the parts itself, as it would
 *   without this object (src/package/consumer.ts). After `take` the object reads no more:
 *   an offer that arrives late starts nothing.
 *
 * So nothing depends on this object for correctness: it only moves the reading and hashing
 * from after the last upload to while the upload runs.
 */

/** One uploaded part, as D1 names it. */
export interface StoredPartRef {
  idx: number;
  part: number;
  key: string;
  size: number;
}

/** The parts a transfer's record names, as the hasher and the packager compare them. */
export const partRefs = (rec: TransferRecord): StoredPartRef[] => rec.parts.map((p) => ({ idx: p.idx, part: p.part, key: p.object_key, size: p.size }));

/** A run offered no part for this long gives up (its transfer was abandoned). */
const IDLE_MS = 10 * 60 * 1000;

const slot = (idx: number, part: number) => `${idx}:${part}`;

class Stale extends Error {}

/** One transfer's hashing, from its first offered part to `take`. */
class Run {
  private readonly available = new Map<string, StoredPartRef>();
  /** each part slot fetched, and the object it was fetched from */
  private readonly fetched = new Map<string, StoredPartRef>();
  /** every part slot of the package, in package order (empty files have none) */
  private readonly order: string[] = [];
  /** each slot's place in `order` */
  private readonly position = new Map<string, number>();
  private readonly gets = new Map<number, Promise<R2ObjectBody | null>>();
  private readonly builder: PackageBuilder;
  private wake: (() => void) | null = null;
  private stopped: Error | null = null;
  private used = 0;
  /** time spent reading and hashing parts (not waiting for them) */
  busyMs = 0;
  private result: Promise<PackageResult> | null = null;
  /** settles when every file was read (rejects on a missing object, a stop, an idle timeout) */
  readonly done: Promise<void>;

  constructor(
    private readonly bucket: R2Bucket,
    readonly transferId: string,
    files: readonly PackageFile[],
    createdAt: number,
    partSizes: ReadonlyMap<number, number>,
  ) {
    this.builder = new PackageBuilder(files, createdAt);
    for (const f of files) {
      if (f.size === 0) continue;
      for (let n = 1; n <= partCount(f.size, partSizes.get(f.idx)!); n++) this.order.push(slot(f.idx, n));
    }
    this.order.forEach((s, i) => this.position.set(s, i));
    this.done = this.builder.addFiles((file) => this.partsOf(file));
  }

  /**
   * Makes parts available; false when one replaces a part whose bytes the builder has
   * begun to read (the run is stale). A replaced part only fetched ahead is fetched again.
   */
  offer(parts: readonly StoredPartRef[]): boolean {
    let fresh = true;
    for (const p of parts) {
      const s = slot(p.idx, p.part);
      const at = this.position.get(s);
      if (at === undefined) continue; // not a part of this package
      const was = this.fetched.get(s);
      if (was !== undefined && was.key !== p.key) {
        if (at <= this.used) fresh = false;
        else {
          this.gets.get(at)?.then((o) => o?.body.cancel()).catch(() => {});
          this.gets.delete(at);
          this.fetched.delete(s);
        }
      }
      this.available.set(s, p);
    }
    this.wake?.();
    return fresh;
  }

  stop(why: Error): void {
    this.stopped ??= why;
    this.wake?.();
    for (const g of this.gets.values()) g.then((o) => o?.body.cancel()).catch(() => {});
  }

  /** Whether every part was read from the object `parts` names, and no part is missing or extra. */
  matches(parts: readonly StoredPartRef[]): boolean {
    const named = parts.filter((p) => this.position.has(slot(p.idx, p.part)));
    return named.length === this.order.length && this.fetched.size === this.order.length && named.every((p) => this.fetched.get(slot(p.idx, p.part))?.key === p.key);
  }

  fits(input: PackageInput): boolean {
    return this.builder.fits(input);
  }

  /** The package, once every file was read (once: a second caller shares the first's). */
  finish(input: PackageInput): Promise<PackageResult> {
    this.result ??= this.builder.finish(input);
    return this.result;
  }

  /** Waits until the next part to read is uploaded. */
  private async next(): Promise<void> {
    const s = this.order[this.used]!;
    for (;;) {
      if (this.stopped) throw this.stopped;
      if (this.available.has(s)) return;
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Stale(`no part for ${IDLE_MS / 1000} s`)), IDLE_MS);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /**
   * Starts the gets of the next parts that are already uploaded (READ_AHEAD at most, as
   * store/objects.ts objectsInOrder does for parts that are all there).
   */
  private fetchAhead(): void {
    for (let i = this.used; i < Math.min(this.order.length, this.used + 1 + READ_AHEAD); i++) {
      if (this.gets.has(i)) continue;
      const s = this.order[i]!;
      const p = this.available.get(s);
      if (!p) return;
      this.fetched.set(s, p);
      const get = getObject(this.bucket, p.key);
      get.catch(() => {}); // (awaited when its turn comes; a stopped run never awaits it)
      this.gets.set(i, get);
    }
  }

  private async *partsOf(file: PackageFile): AsyncIterable<ReadableStream<Uint8Array>> {
    while (this.used < this.order.length && this.order[this.used]!.startsWith(`${file.idx}:`)) {
      await this.next();
      this.fetchAhead(); // (this part, and a few after it that are in)
      const p = this.fetched.get(this.order[this.used]!)!;
      const obj = await this.gets.get(this.used)!;
      this.gets.delete(this.used);
      this.used++;
      if (!obj) throw new Stale(`part ${p.part} of file ${p.idx} is gone (replaced?)`);
      if (obj.size !== p.size || this.stopped) await obj.body.cancel();
      if (obj.size !== p.size) throw new Stale(`part ${p.part} of file ${p.idx} has ${obj.size} bytes, not ${p.size}`);
      if (this.stopped) throw this.stopped;
      const at = performance.now();
      yield obj.body; // (resumes once the builder has read and hashed it)
      this.busyMs += performance.now() - at;
    }
  }
}

export class PackageHasher extends DurableObject<Env> {
  private run: Run | null = null;
  private starting: Promise<Run | null> | null = null;
  /** set once the packager asked (`take`): later offers are too late to matter */
  private taken = false;

  /** A part of `transferId` was stored and recorded: read it when its turn comes. */
  async partStored(transferId: string, part: StoredPartRef): Promise<void> {
    if (this.taken) return;
    const run = await this.current(transferId);
    if (run && !run.offer([part])) {
      // a part whose bytes were being read was sent again: begin anew from what D1 names now
      // (which includes this part: it was recorded before this call)
      this.drop(run, new Stale("a part was replaced after it was read"));
      await this.current(transferId);
    }
  }

  /**
   * The package, if this object read exactly the parts `parts` names for `input`; null
   * otherwise (the caller then reads them itself). Ends this transfer's hashing either way.
   */
  async take(transferId: string, input: PackageInput, parts: readonly StoredPartRef[]): Promise<PackageResult | null> {
    this.taken = true;
    const run = this.run?.transferId === transferId ? this.run : null;
    if (!run) return null;
    if (!run.fits(input)) {
      this.drop(run, new Stale("other files"));
      return null;
    }
    if (!run.offer(parts)) {
      this.drop(run, new Stale("a part was replaced after it was read"));
      return null;
    }
    try {
      await run.done;
      if (!run.matches(parts)) return null;
      const result = await run.finish(input);
      console.log(JSON.stringify({ event: "hashed_early", transfer: transferId, bytes: result.size, busyMs: Math.round(run.busyMs) }));
      return result;
    } catch {
      return null; // the caller reads the parts itself, and meets the same fault if there is one
    } finally {
      this.drop(run, new Stale("taken"));
    }
  }

  /** This transfer's run, begun from what D1 has recorded if there is none. */
  private async current(transferId: string): Promise<Run | null> {
    if (this.run?.transferId === transferId) return this.run;
    this.starting ??= this.begin(transferId).finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async begin(transferId: string): Promise<Run | null> {
    const rec = await getTransferRecord(this.env.DB, transferId);
    if (this.taken) return null;
    if (!rec || rec.transfer.status !== "uploading" && rec.transfer.status !== "packaging" || rec.transfer.purged_at !== null) return null;
    const input = packageInput(rec);
    const run = new Run(this.env.BUCKET, transferId, input.files, input.createdAt, new Map(rec.files.map((f) => [f.idx, f.part_size])));
    run.offer(partRefs(rec));
    run.done.catch((e) => {
      if (!(e instanceof Stale)) console.warn(JSON.stringify({ event: "early_hashing_stopped", transfer: transferId, error: String(e) }));
      this.drop(run, e instanceof Error ? e : new Stale(String(e)));
    });
    this.run = run;
    return run;
  }

  private drop(run: Run, why: Error): void {
    run.stop(why);
    if (this.run === run) this.run = null;
  }
}

/** The transfer's PackageHasher. */
export const hasherOf = (env: Env, transferId: string) => env.HASHER.get(env.HASHER.idFromName(transferId));
