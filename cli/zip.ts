import { open, type FileHandle } from "node:fs/promises";
import { integrityError } from "./exit";

/**
 * Reads the entries of a pushdrop package (docs/api.md "The package"): a ZIP whose entries
 * are stored (method 0; deflate, method 8, is read too), with data descriptors, UTF-8 names
 * and `manifest.json` last. Sizes and offsets come from the central directory (ZIP64 fields
 * included), since local headers written with data descriptors leave them zero. Only the
 * directory is held in memory; entry bytes are read from the file as a stream.
 */

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  /** where the entry's bytes start in the file */
  dataOffset: number;
}

const EOCD = 0x06054b50;
const ZIP64_LOCATOR = 0x07064b50;
const ZIP64_EOCD = 0x06064b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;

const bad = (why: string) => integrityError(`The package is not a readable ZIP: ${why}.`, "bad_package");

export async function readZipEntries(file: string): Promise<ZipEntry[]> {
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    const tailLen = Math.min(size, 22 + 0xffff + 20);
    const tail = await readAt(fh, size - tailLen, tailLen);
    let eocd = -1;
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) throw bad("no end of central directory");
    let count = tail.readUInt16LE(eocd + 10);
    let cdSize = tail.readUInt32LE(eocd + 12);
    let cdOffset = tail.readUInt32LE(eocd + 16);
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      const loc = eocd - 20;
      if (loc < 0 || tail.readUInt32LE(loc) !== ZIP64_LOCATOR) throw bad("ZIP64 sizes without a ZIP64 locator");
      const z64 = await readAt(fh, num(tail.readBigUInt64LE(loc + 8)), 56);
      if (z64.readUInt32LE(0) !== ZIP64_EOCD) throw bad("no ZIP64 end of central directory");
      count = num(z64.readBigUInt64LE(32));
      cdSize = num(z64.readBigUInt64LE(40));
      cdOffset = num(z64.readBigUInt64LE(48));
    }
    if (cdOffset + cdSize > size) throw bad("the central directory lies outside the file");
    const cd = await readAt(fh, cdOffset, cdSize);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let n = 0; n < count; n++) {
      if (p + 46 > cd.length || cd.readUInt32LE(p) !== CENTRAL) throw bad("a damaged central directory");
      const method = cd.readUInt16LE(p + 10);
      const crc32 = cd.readUInt32LE(p + 16);
      let compressedSize = cd.readUInt32LE(p + 20);
      let usize = cd.readUInt32LE(p + 24);
      const nameLen = cd.readUInt16LE(p + 28);
      const extraLen = cd.readUInt16LE(p + 30);
      const commentLen = cd.readUInt16LE(p + 32);
      let localOffset = cd.readUInt32LE(p + 42);
      const nameBytes = cd.subarray(p + 46, p + 46 + nameLen);
      const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
      // ZIP64 extended information: the 64-bit values of the fields set to 0xffffffff, in order
      for (let x = 0; x + 4 <= extra.length; ) {
        const id = extra.readUInt16LE(x);
        const len = extra.readUInt16LE(x + 2);
        if (id === 0x0001) {
          let q = x + 4;
          const next = () => {
            if (q + 8 > x + 4 + len) throw bad("a short ZIP64 field");
            const v = num(extra.readBigUInt64LE(q));
            q += 8;
            return v;
          };
          if (usize === 0xffffffff) usize = next();
          if (compressedSize === 0xffffffff) compressedSize = next();
          if (localOffset === 0xffffffff) localOffset = next();
        }
        x += 4 + len;
      }
      const name = new TextDecoder("utf-8", { fatal: true }).decode(nameBytes);
      const local = await readAt(fh, localOffset, 30);
      if (local.readUInt32LE(0) !== LOCAL) throw bad(`no local header for ${JSON.stringify(name)}`);
      const dataOffset = localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (dataOffset + compressedSize > size) throw bad(`${JSON.stringify(name)} runs past the end of the file`);
      if (method !== 0 && method !== 8) throw bad(`${JSON.stringify(name)} uses compression method ${method}`);
      entries.push({ name, method, compressedSize, size: usize, crc32, dataOffset });
      p += 46 + nameLen + extraLen + commentLen;
    }
    return entries;
  } catch (e) {
    if (e instanceof TypeError) throw bad("a name that is not UTF-8"); // TextDecoder's fatal error
    if (e instanceof RangeError) throw bad("a record cut short");
    throw e;
  } finally {
    await fh.close();
  }
}

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  if (bytesRead !== length) throw bad("the file ends early");
  return buf;
}

function num(v: bigint): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw bad("a size too large");
  return Number(v);
}
