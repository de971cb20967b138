import { Zip, ZipPassThrough } from "fflate";
import { hex } from "../auth/tokens";
import { MANIFEST_NAME } from "./names";

/**
 * The streaming ZIP writer around fflate's synchronous `Zip`. Every entry is stored
 * (method 0): the bytes of a file sit unchanged at a known offset in the package, which
 * is what lets one file be served later by a plain range read, and costs no CPU (a
 * Worker's CPU budget would not stretch to deflating gigabytes). Output goes to a sink in
 * parts of exactly `partSize` bytes (the last one shorter), matching R2 multipart rules.
 *
 * fflate writes no ZIP64: callers keep packages under 4 GiB and 65,535 entries.
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

export interface PackagedFile {
  idx: number;
  sha256: string;
  crc32: number;
  method: number;
  data_offset: number;
  stored_size: number;
}

export interface PackageResult {
  size: number;
  sha256: string;
  entries: PackagedFile[];
  parts: number;
}

/** Where the bytes of each file come from (R2 in production, anything in tests). */
export type OpenFile = (file: PackageFile) => Promise<ReadableStream<Uint8Array>>;
/** Where the package goes, one part at a time (numbers 1, 2, …; all `partSize` but the last). */
export type WritePart = (partNumber: number, bytes: Uint8Array) => Promise<void>;

export class PackageSourceError extends Error {}

const LOCAL_HEADER = 30;
const DATA_DESCRIPTOR = 16;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const utf8 = new TextEncoder();

/** Upper bound of the bytes a package adds to its files' bytes (headers, directory, manifest). */
export function packageOverhead(names: readonly string[], message: string): number {
  let n = END_RECORD + 512 + utf8.encode(message).byteLength * 6;
  const entry = (nameBytes: number) => LOCAL_HEADER + DATA_DESCRIPTOR + CENTRAL_HEADER + 2 * nameBytes;
  n += entry(MANIFEST_NAME.length);
  for (const name of names) {
    const b = utf8.encode(name).byteLength;
    n += entry(b) + 512 + 2 * b; // its manifest line: ~180 bytes of JSON, the name (escaped), type (≤ 255), sha256
  }
  return n;
}

export function manifestOf(input: PackageInput, sha256: ReadonlyMap<number, string>) {
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
      sha256: sha256.get(f.idx) ?? null,
    })),
  };
}

/** Collects fflate's output and hands it on in fixed-size parts. */
class PartWriter {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private nextPart = 1;
  total = 0;
  private readonly digest = new crypto.DigestStream("SHA-256");
  private readonly digestWriter = this.digest.getWriter();

  constructor(
    private readonly partSize: number,
    private readonly write: WritePart,
  ) {}

  /** fflate's synchronous callback: only queues. */
  take = (chunk: Uint8Array) => {
    if (chunk.byteLength === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    this.total += chunk.byteLength;
  };

  /** Sends every complete part queued so far (and, at the end, the rest). */
  async drain(final = false): Promise<void> {
    while (this.buffered >= this.partSize || (final && this.buffered > 0)) {
      const n = Math.min(this.partSize, this.buffered);
      const part = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const head = this.chunks[0]!;
        const take = Math.min(head.byteLength, n - filled);
        part.set(take === head.byteLength ? head : head.subarray(0, take), filled);
        filled += take;
        if (take === head.byteLength) this.chunks.shift();
        else this.chunks[0] = head.subarray(take);
      }
      this.buffered -= n;
      await this.digestWriter.write(part);
      await this.write(this.nextPart++, part);
    }
  }

  get parts() {
    return this.nextPart - 1;
  }

  async sha256(): Promise<string> {
    await this.digestWriter.close();
    return hex(new Uint8Array(await this.digest.digest));
  }
}

/**
 * Streams every file through the ZIP writer into `writePart`. Memory stays around two
 * parts whatever the file sizes. Deterministic: the same input gives the same bytes (entry
 * times are the transfer's creation time), so a retried packaging rewrites the same package.
 */
export async function buildPackage(
  input: PackageInput,
  open: OpenFile,
  writePart: WritePart,
  partSize: number,
): Promise<PackageResult> {
  const out = new PartWriter(partSize, writePart);
  let failure: Error | null = null;
  const zip = new Zip((err, chunk) => {
    if (err) failure = err;
    else if (chunk) out.take(chunk);
  });
  const check = () => {
    if (failure) throw failure;
  };
  const mtime = new Date(input.createdAt);
  const entries: PackagedFile[] = [];
  const sums = new Map<number, string>();

  for (const file of input.files) {
    const headerOffset = out.total;
    const entry = new ZipPassThrough(file.name);
    entry.mtime = mtime;
    zip.add(entry);
    check();
    const digest = new crypto.DigestStream("SHA-256");
    const hashWriter = digest.getWriter();
    let seen = 0;
    if (file.size > 0) {
      const reader = (await open(file)).getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        seen += value.byteLength;
        if (seen > file.size) throw new PackageSourceError(`file ${file.idx} has more bytes than its declared ${file.size}`);
        await hashWriter.write(value);
        entry.push(value, false);
        check();
        await out.drain();
      }
    }
    if (seen !== file.size) throw new PackageSourceError(`file ${file.idx} has ${seen} bytes, not its declared ${file.size}`);
    entry.push(new Uint8Array(0), true);
    check();
    await hashWriter.close();
    const sha256 = hex(new Uint8Array(await digest.digest));
    sums.set(file.idx, sha256);
    entries.push({
      idx: file.idx,
      sha256,
      crc32: (entry as unknown as { crc: number }).crc >>> 0,
      method: 0,
      data_offset: headerOffset + LOCAL_HEADER + utf8.encode(file.name).byteLength,
      stored_size: file.size,
    });
    await out.drain();
  }

  const manifest = new ZipPassThrough(MANIFEST_NAME);
  manifest.mtime = mtime;
  zip.add(manifest);
  manifest.push(utf8.encode(JSON.stringify(manifestOf(input, sums), null, 2) + "\n"), true);
  zip.end();
  check();
  await out.drain(true);
  return { size: out.total, sha256: await out.sha256(), entries, parts: out.parts };
}
