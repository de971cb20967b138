import { createHash, type Hash } from "node:crypto";
import { createWriteStream, renameSync, rmdirSync, rmSync, type WriteStream } from "node:fs";
import { Readable, Writable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import { openStream, SealError, type SealDocument } from "../client/seal";
import type { Transfer } from "../src/contract";
import { integrityError } from "./exit";
import { unpacking } from "./temps";
import { ensureFolders, freeName, safeSegments, type SavedFile } from "./unpack";

/**
 * Receiving in one pass (issue 23's target): while the package streams in (and into its `.part`,
 * which keeps a cut download resumable), each entry's bytes go on to a new temporary file beside
 * the file's place, hashed (a plain file, checked against the API's SHA-256) or decrypted (a
 * sealed one, checked against its seal) on the way; nothing is read back from the `.part`. Files
 * land (are renamed into place) only once the whole package checked out (its SHA-256, computed
 * as it was written), and every file did.
 *
 * The package's layout is known (docs/api.md "The package"): entries stored (method 0) in the
 * transfer's file order, each a local header, its bytes (the File's size), a data descriptor
 * with its signature (24 bytes for an entry of 4 GiB or more, else 16); then manifest.json and
 * the central directory, which this pass does not need. Anything else (or bytes that do not
 * follow on from the last, after a retry) abandons the pass: the caller then opens the `.part`
 * as before, so the result never depends on this being right, only the speed.
 */

const SIG_LOCAL = 0x04034b50;
const SIG_DESCRIPTOR = 0x08074b50;
const MAX32 = 0xffffffff;
/** bytes read from the network but not yet written out or decrypted, at most */
const QUEUE_BYTES = 8 * 1024 * 1024;
/** what goes on to the file or the decrypter at once, about (many small network chunks cost more than one large one) */
const BATCH_BYTES = 1024 * 1024;

interface Target {
  /** index in the transfer */
  index: number;
  /** the name the entry has in the package */
  entryName: string;
  /** entry bytes (for a sealed file: the age file's size) */
  entrySize: number;
  /** what is saved: name, plaintext size and SHA-256 */
  name: string;
  size: number;
  sha256: string;
  segments: string[];
}

interface Sink {
  write(chunk: Buffer): Promise<void>;
  /** resolves once the file is whole and checked */
  end(): Promise<void>;
  abort(): void;
}

export class OnePass {
  private readonly targets: Target[];
  private readonly byEntry: number;
  private k = 0;
  private state: "header" | "data" | "descriptor" | "done" = "header";
  private held = Buffer.alloc(0);
  private need = 30;
  private headerFixed: Buffer | null = null;
  private left = 0;
  private sink: Sink | null = null;
  private fed = 0;
  private readonly temps: Array<{ target: Target; folder: string; tmp: string }> = [];
  private readonly created: string[] = [];
  /** why the pass was given up (null while it holds) */
  abandoned: string | null = null;

  /**
   * `seal`: the opened seal of a sealed transfer (its files are then decrypted with `identities`).
   * Throws (unsafe_name and the like) before anything is written when a name is not safe.
   */
  constructor(
    private readonly root: string,
    private readonly transfer: Transfer,
    private readonly seal: SealDocument | null,
    private readonly identities: readonly string[],
  ) {
    if (seal) {
      this.targets = seal.files.map((f) => ({
        index: f.index,
        entryName: transfer.files[f.index]!.name,
        entrySize: transfer.files[f.index]!.size,
        name: f.name,
        size: f.size,
        sha256: f.sha256,
        segments: safeSegments(f.name),
      }));
    } else {
      this.targets = transfer.files.map((f) => ({
        index: f.index,
        entryName: f.name,
        entrySize: f.size,
        name: f.name,
        size: f.size,
        sha256: f.sha256 ?? "",
        segments: safeSegments(f.name),
      }));
    }
    const seen = new Set<string>();
    for (const t of this.targets) {
      const key = t.segments.join("/").normalize("NFC").toLowerCase();
      if (seen.has(key)) throw integrityError(`The transfer names ${JSON.stringify(t.name)} twice.`, "bad_package");
      seen.add(key);
    }
    this.byEntry = this.targets.length;
    if (this.byEntry === 0) this.state = "done";
    if (!seal && transfer.files.some((f) => !f.sha256)) this.abandoned = "the API gave no checksums";
  }

  /** Bytes of the package from offset `at` on, in order (called once each is in the `.part`). */
  feed = async (chunk: Buffer, at: number): Promise<void> => {
    if (this.abandoned || this.state === "done") return;
    if (at !== this.fed) return this.abandon(`bytes came from ${at}, not ${this.fed}`);
    this.fed += chunk.length;
    // queued, so that the network, the disk and the decrypter work at once; the download waits
    // only while more than QUEUE_BYTES are queued (memory stays flat)
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.working) this.working = this.work();
    while (this.queued > QUEUE_BYTES && !this.abandoned) await new Promise<void>((r) => (this.wake = r));
  };

  private queue: Buffer[] = [];
  private queued = 0;
  private working: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  private async work(): Promise<void> {
    while (this.queue.length > 0 && !this.abandoned) {
      // what piled up meanwhile goes on as one buffer: the decrypter and the file take large writes best
      let n = 0;
      let take = 0;
      while (take < this.queue.length && n < BATCH_BYTES) n += this.queue[take++]!.length;
      const batch = this.queue.splice(0, take);
      const chunk = batch.length === 1 ? batch[0]! : Buffer.concat(batch, n);
      await this.step(chunk);
      this.queued -= chunk.length;
      this.wake?.();
      this.wake = null;
    }
    this.queue = [];
    this.queued = 0;
    this.wake?.();
    this.wake = null;
    this.working = null;
    if (this.abandoned) this.cleanUp();
  }

  private async step(chunk: Buffer): Promise<void> {
    try {
      await this.take(chunk);
    } catch (e) {
      // a file that does not check out is the package's fault, not the pass's: said as it is
      if (e instanceof SealError || (e as { exitCode?: number }).exitCode === 5) {
        this.failure = e;
        this.abandon("a file did not check out");
        return;
      }
      this.abandon(e instanceof Error ? e.message : String(e));
    }
  };

  /** a file's own failure (wrong SHA-256, a seal that does not open): reported when the pass ends */
  private failure: unknown = null;

  private async take(chunk: Buffer): Promise<void> {
    let c = chunk;
    while (c.length > 0 && this.state !== "done") {
      if (this.state === "data") {
        const n = Math.min(this.left, c.length);
        await this.sink!.write(c.subarray(0, n));
        this.left -= n;
        c = c.subarray(n);
        if (this.left === 0) {
          await this.sink!.end();
          this.sink = null;
          this.state = "descriptor";
          this.need = this.target().entrySize >= MAX32 ? 24 : 16;
        }
        continue;
      }
      const n = Math.min(this.need - this.held.length, c.length);
      this.held = Buffer.concat([this.held, c.subarray(0, n)]);
      c = c.subarray(n);
      if (this.held.length < this.need) continue;
      const b = this.held;
      this.held = Buffer.alloc(0);
      if (this.state === "header") {
        if (!this.headerFixed) {
          if (b.readUInt32LE(0) !== SIG_LOCAL || b.readUInt16LE(8) !== 0) throw new Error("not a stored local header");
          this.headerFixed = b;
          this.need = b.readUInt16LE(26) + b.readUInt16LE(28);
          if (this.need > 0) continue;
        }
        const nameLen = this.headerFixed.readUInt16LE(26);
        const name = b.subarray(0, nameLen).toString("utf8");
        this.headerFixed = null;
        const t = this.target();
        if (name !== t.entryName) throw new Error(`entry ${name} where ${t.entryName} was due`);
        this.sink = await this.open(t);
        this.left = t.entrySize;
        this.state = "data";
        if (this.left === 0) {
          await this.sink.end();
          this.sink = null;
          this.state = "descriptor";
          this.need = 16;
        }
      } else {
        if (b.readUInt32LE(0) !== SIG_DESCRIPTOR) throw new Error("no data descriptor");
        this.k++;
        if (this.k >= this.byEntry) this.state = "done";
        else {
          this.state = "header";
          this.need = 30;
        }
      }
    }
  }

  private target(): Target {
    return this.targets[this.k]!;
  }

  private async open(t: Target): Promise<Sink> {
    const folder = ensureFolders(this.root, t.segments.slice(0, -1), this.created);
    const tmp = unpacking(folder, this.transfer.id, t.index);
    rmSync(tmp, { force: true }); // a leftover of an interrupted run (a link is removed, not followed)
    this.temps.push({ target: t, folder, tmp });
    const file = createWriteStream(tmp, { flags: "wx" });
    if (!this.seal) return hashedFile(file, t);
    // sealed: the age bytes go through the decrypter (64 KiB chunks), whose output goes to the file
    const pipe = new TransformStream<Uint8Array, Uint8Array>();
    const writer = pipe.writable.getWriter();
    // (not awaited here: the decrypter reads the age header from the bytes written below)
    const done = openStream(pipe.readable, this.identities, { sealedSize: t.entrySize, size: t.size, sha256: t.sha256 }).then((plain) =>
      pipeline(Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>), file),
    );
    done.catch(() => undefined); // (awaited in end(); a failure meanwhile is not unhandled)
    return {
      write: async (chunk) => {
        await writer.ready; // the decrypter's pace, not the network's: nothing piles up in memory
        await Promise.race([writer.write(chunk), done]);
      },
      end: async () => {
        await Promise.race([writer.close(), done]);
        await done;
      },
      abort: () => {
        void writer.abort().catch(() => undefined);
        file.destroy();
      },
    };
  }

  private abandon(why: string): void {
    if (this.abandoned) return;
    this.abandoned = why;
    // (while the worker is in a step, it cleans up once that step is over: its file is in use)
    if (!this.working) this.cleanUp();
  }

  private cleanUp(): void {
    this.sink?.abort();
    this.sink = null;
    this.discard();
  }

  /** Removes what the pass wrote (temporary files, folders it made that are still empty). */
  discard(): void {
    for (const t of this.temps) rmSync(t.tmp, { force: true });
    this.temps.length = 0;
    for (const d of this.created.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty
      }
    }
    this.created.length = 0;
  }

  /**
   * After the download checked out: the saved files when the pass held to the end, else null
   * (the caller opens the `.part`). A file of its own that failed its check is thrown.
   */
  async finish(): Promise<SavedFile[] | null> {
    while (this.working) await this.working;
    if (this.failure) {
      this.discard();
      const e = this.failure;
      throw e instanceof SealError ? integrityError(`${e.message}; nothing was kept.`, e.code) : e;
    }
    if (this.abandoned || this.state !== "done") {
      this.abandon(this.abandoned ?? "the package ended early");
      return null;
    }
    const saved: SavedFile[] = [];
    for (const { target: t, folder, tmp } of this.temps) {
      const { target, same } = await freeName(folder, t.segments[t.segments.length - 1]!, t.size, t.sha256);
      if (same) rmSync(tmp, { force: true });
      else renameSync(tmp, target);
      saved.push({ index: t.index, name: t.name, path: target, size: t.size, sha256: t.sha256, alreadyThere: same });
    }
    this.temps.length = 0;
    return saved;
  }
}

/** A plain file: written as it comes, hashed, checked against the API's size and SHA-256 at its end. */
function hashedFile(file: WriteStream, t: Target): Sink {
  const hash: Hash = createHash("sha256");
  let size = 0;
  const out = file as unknown as Writable;
  let failed: unknown = null;
  out.on("error", (e) => (failed = e));
  return {
    write: async (chunk) => {
      if (failed) throw failed;
      hash.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) {
        await new Promise<void>((resolve, reject) => {
          const onDrain = () => (out.off("error", onError), resolve());
          const onError = (e: unknown) => (out.off("drain", onDrain), reject(e));
          out.once("drain", onDrain);
          out.once("error", onError);
        });
      }
    },
    end: async () => {
      await new Promise<void>((r, j) => out.end((e?: Error | null) => (e ? j(e) : r())));
      const sha = hash.digest("hex");
      if (size !== t.size || sha !== t.sha256) {
        throw integrityError(`${t.name} does not match its checksum (got ${size} bytes, sha256 ${sha}); nothing was kept.`, "sha256_mismatch", { name: t.name });
      }
    },
    abort: () => file.destroy(),
  };
}
