import { createHash, type Hash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { openStream, SealError, type SealDocument } from "../client/seal";
import type { Transfer } from "../src/contract";
import { place, type Placed } from "../src/package/zip";
import { openPart, readBack, writeStreamTo, writevAll, type Store } from "./download";
import { integrityError } from "./exit";
import { Landing, type SavedFile } from "./temps";
import { safeSegments } from "./unpack";

/**
 * Receiving in one pass (issue 23): each entry of the package goes to a new temporary file beside
 * its place while the package streams in, hashed (a plain file, checked against the API's
 * SHA-256 as its last byte comes) or decrypted (a sealed one, checked against its seal); the
 * package's own SHA-256 is computed on the way (cli/download.ts); nothing is read back. Files
 * land (are renamed into place) only once the whole package checked out, and every file did.
 *
 * Where each byte belongs is known before the first one comes: the package's layout is the
 * server's own (src/package/zip.ts `place`: entries stored in the transfer's file order, each a
 * local header, its bytes, a data descriptor; then manifest.json and the central directory).
 * Each local header is checked (signature, stored, its name) as it comes; a package laid out
 * otherwise is refused (bad_package), before any byte of that entry is written.
 *
 * Each byte is written to disk once. A plain transfer's file bytes go only to their temporary
 * files; the `.part` gets the package's other bytes (headers, descriptors, manifest, directory)
 * at their offsets and is stretched over the file bytes (a sparse file), so its size still says
 * how far the download got. Resumed by a new run, the pass reads back what it holds once (the
 * `.part`'s own bytes and each temporary file's), which gives both the package's hash and each
 * file's, and the download goes on from there. A sealed transfer's `.part` holds the package
 * itself (the age bytes cannot be had back from the plaintext), and a resume decrypts it again.
 */

const SIG_LOCAL = 0x04034b50;
const SIG_DESCRIPTOR = 0x08074b50;
const STRETCH_EVERY = 16 * 1024 * 1024;

interface Target {
  /** index in the transfer (the entry's place in the package) */
  index: number;
  /** what is saved: name, plaintext size and SHA-256 */
  name: string;
  size: number;
  sha256: string;
  segments: string[];
}

/** Where the bytes of one entry go (in order); `end` resolves once the file is whole and checked. */
interface Sink {
  write(pieces: Buffer[], bytes: number, at: number, replay: boolean): Promise<void>;
  end(): Promise<void>;
  close(): Promise<void>;
}

class Shortfall extends Error {}

export class OnePass {
  /** per package entry (transfer file): the file it lands as, or null (seal.age: not saved) */
  private readonly byEntry: Array<Target | null>;
  private readonly placed: Placed[];
  private readonly names: Buffer[];
  private readonly landing: Landing;
  private part: FileHandle | null = null;
  /** bytes of the `.part` file (sparse mode: stretched over the file bytes) */
  private partSize = 0;
  /** the next byte expected */
  private pos = 0;
  /** the entry `pos` is in (entries.length: past the last file) */
  private cur = 0;
  private header: Buffer[] = [];
  private readonly sinks = new Map<number, Sink>();
  private readonly ended: Array<Promise<void>> = [];
  /** plain: file bytes go only to their files (the `.part` is sparse); sealed: the `.part` holds everything */
  private readonly sparse: boolean;
  /** why the pass was given up (feed only; null while it holds) */
  abandoned: string | null = null;
  /** a file's own failure (wrong SHA-256, a seal that does not open), fed through `feed`: thrown by finish */
  private failure: unknown = null;
  /**
   * plain, as a download's store: the download hashes each file's bytes (Store.ranges) with the
   * package's, on its hash worker, and gives their SHA-256s once the package checked out; the
   * files' sinks do not hash them again (null: each sink hashes its own, as with `feed`)
   */
  private outside: { ranges: Array<{ entry: number; start: number; end: number }>; sha256s: string[] | null } | null = null;

  /**
   * `root`: the folder (its real path); `seal`: the opened seal of a sealed transfer (its files
   * are then decrypted with `identities`). Throws (unsafe_name and the like) before anything is
   * written when a name is not safe.
   */
  constructor(
    root: string,
    private readonly transfer: Transfer,
    private readonly seal: SealDocument | null,
    private readonly identities: readonly string[],
  ) {
    this.byEntry = transfer.files.map(() => null);
    const targets: Target[] = seal
      ? seal.files.map((f) => ({ index: f.index, name: f.name, size: f.size, sha256: f.sha256, segments: safeSegments(f.name) }))
      : transfer.files.map((f) => ({ index: f.index, name: f.name, size: f.size, sha256: f.sha256 ?? "", segments: safeSegments(f.name) }));
    const seen = new Set<string>();
    for (const t of targets) {
      const key = t.segments.join("/").normalize("NFC").toLowerCase();
      if (seen.has(key)) throw integrityError(`The transfer names ${JSON.stringify(t.name)} twice.`, "bad_package");
      seen.add(key);
      if (!transfer.files[t.index]) throw integrityError(`The seal names a file ${t.index} the transfer does not have.`, "bad_package");
      this.byEntry[t.index] = t;
    }
    if (!seal && transfer.files.some((f) => !f.sha256)) throw integrityError(`Transfer ${transfer.id} gives no checksums for its files yet.`, "bad_package");
    this.placed = place(transfer.files.map((f) => ({ name: f.name, size: f.size }))).placed;
    this.names = transfer.files.map((f) => Buffer.from(f.name, "utf8"));
    this.sparse = !seal;
    this.landing = new Landing(root, transfer.id);
  }

  /** The pass as the download's store, writing into the `.part` opened as `part`. */
  store(part: FileHandle): Store {
    this.part = part;
    if (this.sparse) {
      const ranges = this.byEntry.flatMap((t, k) => (t ? [{ entry: k, start: this.placed[k]!.data, end: this.placed[k]!.data + this.transfer.files[k]!.size }] : []));
      this.outside = { ranges, sha256s: null };
    }
    const outside = this.outside;
    return {
      // what it holds: the .part's size (a new run), or, while it runs, every byte up to `pos`
      // (a plain .part is stretched only every 16 MiB; a retry goes on from pos, not from there)
      size: async () => Math.max((this.partSize = (await part.stat()).size), this.pos),
      write: (chunks, bytes, at) => this.write(chunks, bytes, at),
      replay: (n, onBytes) => this.replay(n, onBytes),
      reset: () => this.reset(),
      ranges: outside?.ranges,
      rangesHashed: outside ? (sha256s) => void (outside.sha256s = sha256s) : undefined,
    };
  }

  /** Bytes of the package from offset `at` on (without a `.part`: tests). Never throws; finish() says what went wrong. */
  feed = async (chunk: Buffer, at: number): Promise<void> => {
    if (this.abandoned || this.failure) return;
    if (at !== this.pos) return void (await this.abandon(`bytes came from ${at}, not ${this.pos}`));
    try {
      await this.write([chunk], chunk.length, at);
    } catch (e) {
      if (e instanceof SealError || (e as { exitCode?: number }).exitCode === 5) {
        this.failure = e;
        await this.discardFiles();
      } else await this.abandon(e instanceof Error ? e.message : String(e));
    }
  };

  private async write(chunks: readonly Buffer[], bytes: number, at: number): Promise<void> {
    if (at !== this.pos) throw new Error(`bytes came from ${at}, not ${this.pos}`);
    if (!this.sparse && this.part) {
      // sealed: the package as it is into the .part, while the same bytes are decrypted
      await Promise.all([writevAll(this.part, chunks, bytes, at), this.route(chunks, false)]);
      this.partSize = Math.max(this.partSize, at + bytes);
      return;
    }
    await this.route(chunks, false);
    // stretched over the file bytes (written to their files, not here) every 16 MiB and at its
    // end: a resume goes on from what the .part says, which is never more than the files hold
    const end = at + bytes;
    if (this.part && this.partSize < end && (end - this.partSize >= STRETCH_EVERY || end === this.transfer.package?.size)) {
      await this.part.truncate(end);
      this.partSize = end;
    }
  }

  /**
   * A new run resuming: the first `n` bytes read back once (sparse: the `.part`'s own bytes and
   * each file's bytes from its temporary file), each piece to `onBytes` and on to its file's hash.
   * A temporary file that lacks bytes the `.part` counts (removed meanwhile) makes it start over.
   */
  private async replay(n: number, onBytes: (b: Buffer) => void | Promise<void>): Promise<number> {
    const part = this.part!;
    try {
      const take = async (b: Buffer) => {
        await onBytes(b);
        await this.route([b], this.sparse); // (sealed: decrypted again, into fresh files)
      };
      // sealed: the .part holds the package; decrypted again from its start
      if (!this.sparse) await readBack(part, 0, n, take);
      while (this.sparse && this.pos < n) {
        const { to, entry } = this.region(this.pos);
        const end = Math.min(to, n);
        if (entry === null) await readBack(part, this.pos, end, take);
        else {
          const { file } = (await this.sink(entry, true, this.pos)) as FileSink;
          const from = this.pos - this.placed[entry]!.data;
          if ((await file.stat()).size < from + (end - this.pos)) throw new Shortfall();
          await readBack(file, from, from + (end - this.pos), take);
        }
      }
      return n;
    } catch (e) {
      if (!(e instanceof Shortfall)) throw e;
      await this.reset();
      return 0;
    }
  }

  /** The region `at` is in: up to where, and whose file bytes (null: the package's own bytes). */
  private region(at: number): { to: number; entry: number | null } {
    const k = this.cur;
    const p = this.placed[k];
    if (!p) return { to: Infinity, entry: null };
    const size = this.transfer.files[k]!.size;
    if (at < p.data) return { to: p.data, entry: null };
    if (at < p.data + size) return { to: p.data + size, entry: this.byEntry[k] ? k : null };
    return { to: p.end, entry: null };
  }

  /** Sends the pieces on, region by region: headers checked, file bytes to their files. */
  private async route(chunks: readonly Buffer[], replay: boolean): Promise<void> {
    const own: Array<{ b: Buffer; at: number }> = []; // the package's own bytes, for a sparse .part
    let data: { entry: number; pieces: Buffer[]; bytes: number; at: number } | null = null;
    const flushData = async () => {
      if (!data) return;
      const d = data;
      data = null;
      await (await this.sink(d.entry, replay, d.at)).write(d.pieces, d.bytes, d.at, replay);
    };
    /** The package's own bytes of `c` up to offset `upto` (a local header, a data descriptor): for the .part, and gathered to be checked; how many. */
    const headerBytes = (c: Buffer, upto: number): number => {
      const n = Math.min(c.length, upto - this.pos);
      const piece = c.subarray(0, n);
      own.push({ b: piece, at: this.pos });
      this.header.push(Buffer.from(piece)); // (kept past this write, whose bytes are reused after it: copied)
      this.pos += n;
      return n;
    };
    for (let c of chunks) {
      while (c.length > 0) {
        const k = this.cur;
        const p = this.placed[k];
        if (!p) {
          // past the last file: manifest.json and the central directory
          own.push({ b: c, at: this.pos });
          this.pos += c.length;
          break;
        }
        const size = this.transfer.files[k]!.size;
        if (this.pos < p.data) {
          c = c.subarray(headerBytes(c, p.data));
          if (this.pos === p.data) this.checkHeader(k);
          if (this.pos === p.data && size === 0 && this.byEntry[k]) this.ending(await this.sink(k, replay, this.pos));
          continue;
        }
        if (this.pos < p.data + size) {
          const n = Math.min(c.length, p.data + size - this.pos);
          const piece = c.subarray(0, n);
          if (this.byEntry[k]) {
            if (data && data.entry !== k) await flushData();
            data ??= { entry: k, pieces: [], bytes: 0, at: this.pos };
            data.pieces.push(piece);
            data.bytes += n;
          } else own.push({ b: piece, at: this.pos }); // seal.age: part of the package, not saved
          this.pos += n;
          c = c.subarray(n);
          if (this.pos === p.data + size && this.byEntry[k]) {
            await flushData();
            this.ending(await this.sink(k, replay, this.pos));
          }
          continue;
        }
        c = c.subarray(headerBytes(c, p.end));
        if (this.pos === p.end) {
          const d = Buffer.concat(this.header);
          this.header = [];
          if (d.readUInt32LE(0) !== SIG_DESCRIPTOR) throw badPackage(`no data descriptor after ${JSON.stringify(this.transfer.files[k]!.name)}`);
          this.cur++;
        }
      }
    }
    await flushData();
    if (this.sparse && this.part && !replay && own.length > 0) {
      // the package's own bytes at their offsets in the .part (runs that follow on go as one write)
      for (let i = 0; i < own.length; ) {
        let j = i + 1;
        let bytes = own[i]!.b.length;
        while (j < own.length && own[j]!.at === own[j - 1]!.at + own[j - 1]!.b.length) bytes += own[j++]!.b.length;
        await writevAll(this.part, own.slice(i, j).map((x) => x.b), bytes, own[i]!.at);
        i = j;
      }
    }
  }

  private checkHeader(k: number): void {
    const h = Buffer.concat(this.header);
    this.header = [];
    const name = this.names[k]!;
    const ok =
      h.length >= 30 &&
      h.readUInt32LE(0) === SIG_LOCAL &&
      h.readUInt16LE(8) === 0 &&
      h.readUInt16LE(26) === name.length &&
      30 + name.length + h.readUInt16LE(28) === h.length &&
      h.subarray(30, 30 + name.length).equals(name);
    if (!ok) throw badPackage(`its entry ${k} is not ${JSON.stringify(this.transfer.files[k]!.name)}, stored, where the transfer puts it`);
  }

  /** A file's end: checked now (plain) or once the decrypter is through (sealed; awaited in finish). */
  private ending(s: Sink): void {
    const e = s.end();
    e.catch(() => undefined); // (a failure meanwhile is not unhandled)
    this.ended.push(e);
  }

  /** The sink of an entry, opened at its first byte (`at`); a resumed temporary file is kept as it is. */
  private async sink(entry: number, replay: boolean, at: number): Promise<Sink> {
    let s = this.sinks.get(entry);
    if (s) return s;
    const t = this.byEntry[entry]!;
    const fresh = !this.sparse || (!replay && at === this.placed[entry]!.data);
    const tmp = this.landing.temp({ index: t.index, name: t.name, size: t.size, sha256: t.sha256 }, t.segments, !this.sparse);
    // created only by us, never through a link (a resumed one checked); mode as any new file (umask)
    const file = await openPart(tmp, 0o666);
    // (a file just made is empty already: truncating it to 0 anyway makes ext4 write it all out
    // when it is closed, its auto_da_alloc, which held the close for 0.4 s per GiB here and the
    // disk for a second after it)
    if (fresh && (await file.stat()).size > 0) await file.truncate(0);
    s = this.seal ? sealedSink(file, this.identities, t, this.transfer.files[entry]!.size) : new FileSink(file, t, this.placed[entry]!.data, !this.outside);
    this.sinks.set(entry, s);
    return s;
  }

  /** Gives up (feed only): what was written goes. */
  private async abandon(why: string): Promise<void> {
    if (this.abandoned) return;
    this.abandoned = why;
    await this.discardFiles();
  }

  private async discardFiles(): Promise<void> {
    for (const s of this.sinks.values()) await s.close().catch(() => undefined);
    this.sinks.clear();
    this.ended.length = 0;
    this.landing.rollback();
  }

  /** Everything goes: the `.part` to 0 bytes, the temporary files removed; the download starts again from byte 0. */
  private async reset(): Promise<void> {
    await this.discardFiles();
    await this.part?.truncate(0);
    this.partSize = 0;
    this.pos = 0;
    this.cur = 0;
    this.header = [];
  }

  /** Closes its files and keeps them (a download to be resumed by a later run). */
  async close(): Promise<void> {
    for (const s of this.sinks.values()) await s.close().catch(() => undefined);
    this.sinks.clear();
  }

  /** Removes what the pass wrote (temporary files, folders it made that are still empty). */
  discard(): void {
    for (const s of this.sinks.values()) void s.close().catch(() => undefined);
    this.sinks.clear();
    this.landing.rollback();
  }

  /**
   * After the download checked out: the files, in place. A file of its own that failed its check
   * is thrown; null when the pass was given up (feed only).
   */
  async finish(): Promise<SavedFile[] | null> {
    try {
      if (this.failure) throw this.failure;
      if (this.abandoned) return null;
      for (const e of this.ended) await e;
      if (this.cur < this.placed.length) throw badPackage("it ended early");
      this.checkOutside();
    } catch (e) {
      await this.discardFiles();
      throw e instanceof SealError ? integrityError(`${e.message}; nothing was kept.`, e.code) : e;
    }
    for (const s of this.sinks.values()) await s.close();
    this.sinks.clear();
    return this.landing.land();
  }

  /** The files' SHA-256s as the download computed them (a plain pass as its store), against the API's. */
  private checkOutside(): void {
    const o = this.outside;
    if (!o) return; // (each sink checked its own)
    // (the download tells them only once the package's own SHA-256 checked out)
    if (!o.sha256s || o.sha256s.length !== o.ranges.length) throw new Error("the download did not give the files' SHA-256s");
    o.ranges.forEach(({ entry }, i) => {
      const t = this.byEntry[entry]!;
      const sha = o.sha256s![i]!;
      if (sha !== t.sha256) throw integrityError(`${t.name} does not match its checksum (sha256 ${sha}); nothing was kept.`, "sha256_mismatch", { name: t.name });
    });
  }
}

const badPackage = (why: string) => integrityError(`The package is not the one the transfer describes: ${why}. Nothing was kept.`, "bad_package");

/**
 * A plain file: its bytes written at their place in it, and checked against the API's SHA-256:
 * hashed here in order and checked at its end, or (`hashes` false) hashed by the download with
 * the package (OnePass.checkOutside).
 */
class FileSink implements Sink {
  private readonly hash: Hash | null;
  private bytes = 0;

  constructor(
    readonly file: FileHandle,
    private readonly t: Target,
    /** where its first byte is in the package */
    private readonly offset: number,
    hashes: boolean,
  ) {
    this.hash = hashes ? createHash("sha256") : null;
  }

  async write(pieces: Buffer[], bytes: number, at: number, replay: boolean): Promise<void> {
    if (this.hash) for (const p of pieces) this.hash.update(p);
    this.bytes += bytes;
    if (!replay) await writevAll(this.file, pieces, bytes, at - this.offset);
  }

  async end(): Promise<void> {
    const sha = this.hash?.digest("hex") ?? null; // (null: checked by the pass, OnePass.checkOutside)
    if (this.bytes !== this.t.size || (sha !== null && sha !== this.t.sha256)) {
      throw integrityError(`${this.t.name} does not match its checksum (got ${this.bytes} bytes${sha === null ? "" : `, sha256 ${sha}`}); nothing was kept.`, "sha256_mismatch", { name: this.t.name });
    }
  }

  close = () => this.file.close();
}

/** A sealed file: the age bytes through the decrypter (in order), its plaintext into the file in large writes; checked by openStream against the seal. */
function sealedSink(file: FileHandle, identities: readonly string[], t: Target, sealedSize: number): Sink {
  const pipe = new TransformStream<Uint8Array, Uint8Array>();
  const writer = pipe.writable.getWriter();
  // (not awaited here: the decrypter reads the age header from the bytes written below)
  const done = (async () => {
    const plain = await openStream(pipe.readable, identities, { sealedSize, size: t.size, sha256: t.sha256 });
    await writeStreamTo(file, plain);
  })().catch((e: unknown) => {
    // the seal opened with these keys, so an age file that does not is not the one sealed
    if (e instanceof SealError) throw e;
    throw integrityError(`${t.name} cannot be opened with this computer's keys (${e instanceof Error ? e.message : String(e)}); nothing was kept.`, "cannot_open", { name: t.name });
  });
  done.catch(() => undefined); // (awaited in end(); a failure meanwhile is not unhandled)
  return {
    write: async (pieces) => {
      for (const p of pieces) {
        try {
          await Promise.race([writer.ready, done]); // the decrypter's pace, not the network's: nothing piles up in memory
        } catch (e) {
          // the pipe failed because the decrypter did: its own error (cannot_open, checksum_mismatch…)
          // says why, not the raw one the pipe carries, which may come first
          await done;
          throw e;
        }
        // a copy: the decrypter may hold it past this write, whose buffer the download reuses after it
        void writer.write(Uint8Array.prototype.slice.call(p)).catch(() => undefined);
      }
    },
    end: async () => {
      await Promise.race([writer.close(), done]);
      await done;
    },
    close: async () => {
      void writer.abort().catch(() => undefined); // (not awaited: a write the decrypter never took would hold it)
      await file.close().catch(() => undefined);
    },
  };
}
