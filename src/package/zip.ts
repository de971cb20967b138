import { MANIFEST_NAME } from "../contract/package";

/**
 * The ZIP format of a package (APPNOTE.TXT 6.3.10), as plain functions of names, sizes,
 * CRCs and one timestamp: no I/O here. Every entry is stored (method 0), so a file's bytes
 * sit unchanged at a known offset; each local header has bit 3 set and is followed, after
 * the data, by a data descriptor (the CRC is known only once the bytes were read). Names
 * are UTF-8 (bit 11 when not ASCII). Past 4 GiB the ZIP64 forms are used: an entry of
 * 4 GiB or more carries a ZIP64 extra field in its local and central headers and 8-byte
 * sizes in its descriptor; an entry that starts past 4 GiB, a central directory past it,
 * or a package of 65,535 entries or more gets the ZIP64 end record and its locator.
 */

const SIG_LOCAL = 0x04034b50;
const SIG_DESCRIPTOR = 0x08074b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_END = 0x06054b50;
const SIG_END64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;

const LOCAL_HEADER = 30;
const CENTRAL_HEADER = 46;
const END_RECORD = 22;
const END64_RECORD = 56;
const LOCATOR64 = 20;
/** ZIP64 extended information extra field (0x0001) in a local header: both sizes. */
const LOCAL_EXTRA64 = 4 + 16;
const MAX32 = 0xffff_ffff;
const MAX16 = 0xffff;

const FLAG_DESCRIPTOR = 0x0008;
const FLAG_UTF8 = 0x0800;
const VERSION = 20;
const VERSION_ZIP64 = 45;
/**
 * "Version made by" names the host whose file attributes the entry carries: Unix (3), with
 * mode rw-r--r-- in the high half of the external attributes. Info-ZIP's unzip reads names
 * of an MS-DOS-made entry (host 0) in the DOS code page even with the UTF-8 flag set, which
 * garbles accents, CJK and emoji; of a Unix-made one, as UTF-8.
 */
const HOST_UNIX = 3 << 8;
const UNIX_FILE_ATTRIBUTES = (0o100644 << 16) >>> 0;

const utf8 = new TextEncoder();

/** A stored entry as the writer knows it before reading its bytes. */
export interface EntrySpec {
  name: string;
  size: number;
}

/** An entry once its bytes were read. */
export interface Entry extends EntrySpec {
  crc32: number;
}

/** Whether an entry's sizes need ZIP64 (4 GiB or more: 0xFFFFFFFF itself marks "see ZIP64"). */
const big = (size: number) => size >= MAX32;

/** MS-DOS date and time (UTC; two-second steps), as ZIP stores them. */
export function dosDateTime(ms: number): { date: number; time: number } {
  const d = new Date(ms);
  const year = Math.min(Math.max(d.getUTCFullYear(), 1980), 2107);
  return {
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  };
}

class Bytes {
  readonly buf: Uint8Array;
  private readonly dv: DataView;
  private o = 0;
  constructor(n: number) {
    this.buf = new Uint8Array(n);
    this.dv = new DataView(this.buf.buffer);
  }
  u16(v: number) {
    this.dv.setUint16(this.o, v, true);
    this.o += 2;
    return this;
  }
  u32(v: number) {
    this.dv.setUint32(this.o, v >>> 0, true);
    this.o += 4;
    return this;
  }
  u64(v: number) {
    this.dv.setBigUint64(this.o, BigInt(v), true);
    this.o += 8;
    return this;
  }
  bytes(b: Uint8Array) {
    this.buf.set(b, this.o);
    this.o += b.byteLength;
    return this;
  }
  done(): Uint8Array {
    if (this.o !== this.buf.byteLength) throw new Error(`zip: wrote ${this.o} of ${this.buf.byteLength} bytes`);
    return this.buf;
  }
}

const isAscii = (b: Uint8Array) => b.every((c) => c < 0x80);
const flagsOf = (name: Uint8Array) => FLAG_DESCRIPTOR | (isAscii(name) ? 0 : FLAG_UTF8);

/** Length of the local header of an entry (what comes before its data). */
export function localHeaderLength(e: EntrySpec): number {
  return LOCAL_HEADER + utf8.encode(e.name).byteLength + (big(e.size) ? LOCAL_EXTRA64 : 0);
}

/** Length of the data descriptor after an entry's data. */
export const descriptorLength = (e: EntrySpec) => (big(e.size) ? 24 : 16);

/** The local header: CRC and sizes are in the descriptor (bit 3); a ZIP64 entry carries both sizes in its extra field. */
export function localHeader(e: EntrySpec, mtime: number): Uint8Array {
  const name = utf8.encode(e.name);
  const z64 = big(e.size);
  const { date, time } = dosDateTime(mtime);
  const b = new Bytes(localHeaderLength(e))
    .u32(SIG_LOCAL)
    .u16(z64 ? VERSION_ZIP64 : VERSION)
    .u16(flagsOf(name))
    .u16(0) // stored
    .u16(time)
    .u16(date)
    .u32(0) // crc: in the descriptor
    .u32(z64 ? MAX32 : 0)
    .u32(z64 ? MAX32 : 0)
    .u16(name.byteLength)
    .u16(z64 ? LOCAL_EXTRA64 : 0)
    .bytes(name);
  if (z64) b.u16(0x0001).u16(16).u64(e.size).u64(e.size);
  return b.done();
}

/** The data descriptor (with its signature): CRC-32 and sizes, 8-byte sizes for a ZIP64 entry. */
export function dataDescriptor(e: Entry): Uint8Array {
  const b = new Bytes(descriptorLength(e)).u32(SIG_DESCRIPTOR).u32(e.crc32);
  return (big(e.size) ? b.u64(e.size).u64(e.size) : b.u32(e.size).u32(e.size)).done();
}

/** The central directory header of an entry whose local header is at `offset`. */
export function centralHeader(e: Entry, offset: number, mtime: number): Uint8Array {
  const name = utf8.encode(e.name);
  const sizes64 = big(e.size);
  const offset64 = offset >= MAX32;
  const extra = (sizes64 ? 16 : 0) + (offset64 ? 8 : 0);
  const z64 = extra > 0;
  const { date, time } = dosDateTime(mtime);
  const b = new Bytes(CENTRAL_HEADER + name.byteLength + (z64 ? 4 + extra : 0))
    .u32(SIG_CENTRAL)
    .u16(HOST_UNIX | (z64 ? VERSION_ZIP64 : VERSION)) // made by: Unix
    .u16(z64 ? VERSION_ZIP64 : VERSION) // needed
    .u16(flagsOf(name))
    .u16(0)
    .u16(time)
    .u16(date)
    .u32(e.crc32)
    .u32(sizes64 ? MAX32 : e.size)
    .u32(sizes64 ? MAX32 : e.size)
    .u16(name.byteLength)
    .u16(z64 ? 4 + extra : 0)
    .u16(0) // comment
    .u16(0) // disk
    .u16(0) // internal attributes
    .u32(UNIX_FILE_ATTRIBUTES) // external attributes: a regular file, rw-r--r--
    .u32(offset64 ? MAX32 : offset)
    .bytes(name);
  // the ZIP64 extra holds only the fields marked 0xFFFFFFFF above, in this order
  if (z64) {
    b.u16(0x0001).u16(extra);
    if (sizes64) b.u64(e.size).u64(e.size);
    if (offset64) b.u64(offset);
  }
  return b.done();
}

/** The end of the archive: the ZIP64 end record and locator when anything overflows, then the end record. */
export function endRecords(count: number, centralOffset: number, centralSize: number): Uint8Array {
  const z64 = count >= MAX16 || centralOffset >= MAX32 || centralSize >= MAX32;
  const b = new Bytes((z64 ? END64_RECORD + LOCATOR64 : 0) + END_RECORD);
  if (z64) {
    const end64Offset = centralOffset + centralSize;
    b.u32(SIG_END64).u64(END64_RECORD - 12).u16(VERSION_ZIP64).u16(VERSION_ZIP64).u32(0).u32(0);
    b.u64(count).u64(count).u64(centralSize).u64(centralOffset);
    b.u32(SIG_LOCATOR64).u32(0).u64(end64Offset).u32(1);
  }
  b.u32(SIG_END).u16(0).u16(0);
  b.u16(Math.min(count, MAX16)).u16(Math.min(count, MAX16));
  b.u32(Math.min(centralSize, MAX32)).u32(Math.min(centralOffset, MAX32));
  b.u16(0);
  return b.done();
}

/** Where each entry lands in the archive, before any byte is read. */
export interface Placed {
  /** offset of the local header */
  header: number;
  /** offset of the first data byte */
  data: number;
  /** first byte after the data descriptor */
  end: number;
}

export function place(entries: readonly EntrySpec[]): { placed: Placed[]; centralOffset: number } {
  let o = 0;
  const placed = entries.map((e) => {
    const header = o;
    const data = header + localHeaderLength(e);
    o = data + e.size + descriptorLength(e);
    return { header, data, end: o };
  });
  return { placed, centralOffset: o };
}

/** The central directory and the end records of the entries (placed as `place` says). */
export function centralDirectory(entries: readonly Entry[], mtime: number): Uint8Array {
  const { placed, centralOffset } = place(entries);
  const headers = entries.map((e, i) => centralHeader(e, placed[i]!.header, mtime));
  const size = headers.reduce((n, h) => n + h.byteLength, 0);
  return concat([...headers, endRecords(entries.length, centralOffset, size)]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

/**
 * Upper bound of the bytes a package adds to its files' bytes (headers, descriptors,
 * central directory, end records, manifest), for the size check when a transfer is created.
 */
export function packageOverhead(names: readonly string[], message: string): number {
  const perEntry = (nameBytes: number) =>
    LOCAL_HEADER + LOCAL_EXTRA64 + 24 + CENTRAL_HEADER + 4 + 24 + 2 * nameBytes;
  let n = END64_RECORD + LOCATOR64 + END_RECORD + 512 + utf8.encode(message).byteLength * 6;
  n += perEntry(MANIFEST_NAME.length);
  for (const name of names) {
    const b = utf8.encode(name).byteLength;
    n += perEntry(b) + 512 + 2 * b; // its manifest line: ~180 bytes of JSON, the name (escaped), type (≤ 255), sha256
  }
  return n;
}
