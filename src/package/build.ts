import { crc32 } from "node:zlib";
import { hex, MANIFEST_NAME, type Manifest } from "../contract";
import { shownTerminalName } from "../present";
import type { PackagedFile, TransferRecord } from "../store/transfers";
import { centralDirectory, concat, dataDescriptor, localHeader, place, type Entry } from "./zip";

/**
 * Packaging reads every uploaded byte once, in order, to learn what the ZIP needs and the
 * manifest promises: each file's CRC-32 (node:zlib, native) and SHA-256, and the SHA-256 of
 * the whole package (its ETag). It writes no copy of the bytes: the package is its *frame*
 * (local headers, descriptors, manifest, central directory, end records: everything but
 * the files' own bytes) plus the uploaded part objects, put together when it is downloaded
 * (src/deliver/pieces.ts). The frame is small (about 100 bytes a file plus the manifest).
 *
 * Bytes are read with a BYOB reader in chunks of at least 1 MiB, so the JavaScript here
 * runs once per MiB, not once per network chunk. Deterministic: the same input gives the
 * same bytes (entry times are the transfer's creation time).
 */

export interface PackageFile {
  idx: number;
  name: string;
  size: number;
  type: string;
}

export interface PackageInput {
  transferId: string;
  createdAt: number;
  from: { id: string; name: string };
  message: string | null;
  files: readonly PackageFile[];
}

/** What a transfer's package is made of, from its record. */
export function packageInput(rec: TransferRecord): PackageInput {
  const t = rec.transfer;
  return {
    transferId: t.id,
    createdAt: t.created_at,
    // the sender's name as shown everywhere else (one stored before the name rule is cleaned by it)
    from: { id: t.sender_id, name: shownTerminalName(t.sender_id, t.sender_name) },
    message: t.message,
    files: rec.files.map((f) => ({ idx: f.idx, name: f.name, size: f.size, type: f.type })),
  };
}

export interface PackageResult {
  size: number;
  sha256: string;
  entries: PackagedFile[];
  /** every byte of the package but the files' own, in order */
  frame: Uint8Array;
}

/** The bytes of one file, as a sequence of streams (its upload parts, in order). */
export type OpenFile = (file: PackageFile) => AsyncIterable<ReadableStream<Uint8Array>>;

export class PackageSourceError extends Error {}

const CHUNK = 1024 * 1024;
const utf8 = new TextEncoder();

const sumOf = (sums: ReadonlyMap<number, string>, idx: number): string => {
  const sum = sums.get(idx);
  if (sum === undefined) throw new Error(`file ${idx} has no checksum yet`);
  return sum;
};

export function manifestOf(input: PackageInput, sha256: ReadonlyMap<number, string>): Manifest {
  return {
    pushdrop: 1,
    transferId: input.transferId,
    createdAt: new Date(input.createdAt).toISOString(),
    from: input.from,
    message: input.message,
    files: input.files.map((f) => ({
      index: f.idx,
      name: f.name,
      size: f.size,
      type: f.type,
      sha256: sumOf(sha256, f.idx),
    })),
  };
}

/**
 * Calls `each` with the stream's bytes in chunks of at least 1 MiB (the last may be
 * shorter). A byte stream (R2 bodies) is read with a BYOB reader into `buffer` (reused from
 * one read to the next; the buffer to reuse next time is returned); `each` must be done
 * with a chunk when its promise settles.
 */
export async function readChunks(
  stream: ReadableStream<Uint8Array>,
  each: (chunk: Uint8Array) => Promise<void>,
  buffer = new ArrayBuffer(CHUNK),
): Promise<ArrayBuffer> {
  let byob: ReadableStreamBYOBReader | null = null;
  try {
    byob = stream.getReader({ mode: "byob" });
  } catch {
    // not a byte stream (a stream built in JavaScript): read as it comes, gathered into 1 MiB
  }
  if (byob) {
    let buf = buffer;
    for (;;) {
      const { done, value } = await byob.readAtLeast(CHUNK, new Uint8Array(buf, 0, CHUNK));
      if (value) buf = value.buffer as ArrayBuffer;
      if (value && value.byteLength > 0) await each(value);
      if (done || !value) return buf;
    }
  }
  const reader = stream.getReader();
  const pending: Uint8Array[] = [];
  let held = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (value && value.byteLength > 0) {
      pending.push(value);
      held += value.byteLength;
    }
    if (held > 0 && (held >= CHUNK || done)) {
      await each(pending.length === 1 ? pending[0]! : concat(pending));
      pending.length = 0;
      held = 0;
    }
    if (done) return buffer;
  }
}

/** A SHA-256 fed chunk by chunk (workerd's DigestStream: native hashing). */
class Sha256 {
  private readonly stream = new crypto.DigestStream("SHA-256");
  private readonly writer = this.stream.getWriter();
  write(b: Uint8Array): Promise<void> {
    return this.writer.write(b);
  }
  async hex(): Promise<string> {
    await this.writer.close();
    return hex(new Uint8Array(await this.stream.digest));
  }
}

/**
 * A package's checksums, computed file by file as the bytes come (each file's parts in
 * order): the local headers, the files' bytes and their data descriptors go into the
 * package's SHA-256 as they are read. What comes after the last file (the manifest, the
 * central directory) depends on the transfer's message and sender too, so `finish` takes
 * the whole input. The files and their order are fixed at construction: that is what lets
 * the hashing start while later parts are still being uploaded (./hasher.ts).
 */
export class PackageBuilder {
  private readonly pkg = new Sha256();
  private readonly frame: Uint8Array[] = [];
  private readonly entries: PackagedFile[] = [];
  private readonly zipEntries: Entry[] = [];
  private readonly sums = new Map<number, string>();
  private readonly placed: ReturnType<typeof place>["placed"];
  private buffer = new ArrayBuffer(CHUNK);
  private next = 0;

  constructor(
    readonly files: readonly PackageFile[],
    readonly createdAt: number,
  ) {
    this.placed = place(files).placed;
  }

  private async framePiece(b: Uint8Array): Promise<void> {
    this.frame.push(b);
    await this.pkg.write(b);
  }

  /** Reads every file's bytes, in order, from `open`. */
  async addFiles(open: OpenFile): Promise<void> {
    for (const file of this.files) await this.addFile(file, open);
  }

  private async addFile(file: PackageFile, open: OpenFile): Promise<void> {
    const i = this.next;
    if (this.files[i] !== file) throw new Error(`file ${file.idx} added out of order`);
    await this.framePiece(localHeader(file, this.createdAt));
    const sha = new Sha256();
    let crc = 0;
    let seen = 0;
    for await (const stream of open(file)) {
      this.buffer = await readChunks(stream, async (chunk) => {
        seen += chunk.byteLength;
        if (seen > file.size) throw new PackageSourceError(`file ${file.idx} has more bytes than its declared ${file.size}`);
        crc = crc32(chunk, crc);
        await Promise.all([sha.write(chunk), this.pkg.write(chunk)]);
      }, this.buffer);
    }
    if (seen !== file.size) throw new PackageSourceError(`file ${file.idx} has ${seen} bytes, not its declared ${file.size}`);
    const entry: Entry = { name: file.name, size: file.size, crc32: crc >>> 0 };
    this.zipEntries.push(entry);
    await this.framePiece(dataDescriptor(entry));
    const sha256 = await sha.hex();
    this.sums.set(file.idx, sha256);
    this.entries.push({ idx: file.idx, sha256, crc32: entry.crc32, method: 0, data_offset: this.placed[i]!.data, stored_size: file.size });
    this.next++;
  }

  /** Whether `input` is what this builder was made for (its files, in order, and its time). */
  fits(input: PackageInput): boolean {
    return (
      input.createdAt === this.createdAt &&
      input.files.length === this.files.length &&
      input.files.every((f, i) => {
        const g = this.files[i]!;
        return f.idx === g.idx && f.name === g.name && f.size === g.size && f.type === g.type;
      })
    );
  }

  /** The manifest and the central directory, once every file was added. */
  async finish(input: PackageInput): Promise<PackageResult> {
    if (this.next !== this.files.length) throw new Error(`${this.files.length - this.next} file(s) not read yet`);
    if (!this.fits(input)) throw new Error("the package input changed since its files were read");
    const manifestBytes = utf8.encode(JSON.stringify(manifestOf(input, this.sums), null, 2) + "\n");
    const manifest: Entry = { name: MANIFEST_NAME, size: manifestBytes.byteLength, crc32: crc32(manifestBytes) >>> 0 };
    this.zipEntries.push(manifest);
    await this.framePiece(localHeader(manifest, this.createdAt));
    await this.framePiece(manifestBytes);
    await this.framePiece(dataDescriptor(manifest));
    await this.framePiece(centralDirectory(this.zipEntries, this.createdAt));

    const bytes = concat(this.frame);
    const size = bytes.byteLength + input.files.reduce((n, f) => n + f.size, 0);
    return { size, sha256: await this.pkg.hex(), entries: this.entries, frame: bytes };
  }
}

export async function buildPackage(input: PackageInput, open: OpenFile): Promise<PackageResult> {
  const builder = new PackageBuilder(input.files, input.createdAt);
  await builder.addFiles(open);
  return builder.finish(input);
}
