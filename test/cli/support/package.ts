import { crc32 } from "node:zlib";
import type { Transfer } from "../../../src/contract";
import { centralDirectory, dataDescriptor, endRecords, localHeader } from "../../../src/package/zip";
import { sha256 } from "../../node/support/bytes.ts";

/** Packages and transfers for cli/onepass.ts's tests, laid out by the server's own ZIP writer (src/package/zip.ts). */

export interface Entry {
  name: string;
  data: Uint8Array;
}

/** A package as the server makes it: each entry stored (local header, bytes, data descriptor), then `manifest` as manifest.json, then the central directory. */
export function packageOf(entries: Entry[], manifest = "{}"): Buffer {
  const parts: Uint8Array[] = [];
  const done: Array<{ name: string; size: number; crc32: number }> = [];
  for (const e of [...entries, { name: "manifest.json", data: Buffer.from(manifest) }]) {
    const entry = { name: e.name, size: e.data.length, crc32: crc32(e.data) >>> 0 };
    parts.push(localHeader(entry, 0), e.data, dataDescriptor(entry));
    done.push(entry);
  }
  const at = parts.reduce((n, p) => n + p.length, 0);
  const cd = centralDirectory(done, 0);
  parts.push(cd, endRecords(done.length, at, cd.length));
  return Buffer.concat(parts);
}

/** A ready transfer `id` of these files (their sizes and SHA-256s), from 123456786 to 578418129. */
export function transferOf(id: string, files: Entry[], sealed = false): Transfer {
  return {
    id,
    sealed,
    status: "ready",
    from: { id: "123456786", name: "a" },
    to: ["578418129"],
    message: null,
    files: files.map((f, index) => ({ index, name: f.name, size: f.data.length, sha256: sha256(f.data) })),
  } as unknown as Transfer;
}
