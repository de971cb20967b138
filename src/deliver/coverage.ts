import { SEAL_NAME } from "../contract";
import type { FileSpan } from "../store/delivery";

/**
 * Which file bytes a response carried, for receipts (v1.2: a recipient has a transfer once
 * every file's bytes have been served to it, as the package or file by file). Plain
 * arithmetic, no I/O: a response of the package is mapped onto the files stored in it (each at
 * its data offset: every entry is stored, so a file's bytes are a run of the package), and a
 * response of one file is that file at offset 0.
 */

export interface FileAt {
  idx: number;
  /** where the file's bytes start in the representation served (0 for a file alone) */
  offset: number;
  size: number;
}

/**
 * The spans of each file in a response from `start` (file offsets): `to` is where bytes
 * credited up to `end` reach (what a resume may start within), `has` where bytes sent in whole
 * pieces up to `sentEnd` reach (start ≤ sentEnd ≤ end), or `from` when none of the file's were.
 * A response of the package from `start` also says, of each file wholly before `start`, that
 * the client has it (a client resumes from what it has): a span `from = to = has = size`, which
 * counts only where the file was already served to its end. An empty file is held by a range
 * that reaches its offset (its entry's header goes with the range; a read of the ZIP's end
 * alone holds none).
 */
export function spansOf(files: readonly FileAt[], start: number, end: number, sentEnd: number): FileSpan[] {
  const out: FileSpan[] = [];
  for (const f of files) {
    if (f.size === 0) {
      if (start <= f.offset && f.offset <= end) out.push({ idx: f.idx, from: 0, to: 0, has: 0 });
      continue;
    }
    if (f.offset + f.size <= start) {
      out.push({ idx: f.idx, from: f.size, to: f.size, has: f.size });
      continue;
    }
    const from = Math.max(start, f.offset);
    const to = Math.min(end, f.offset + f.size);
    if (from < to) out.push({ idx: f.idx, from: from - f.offset, to: to - f.offset, has: Math.max(from, Math.min(sentEnd, to)) - f.offset });
  }
  return out;
}

/**
 * v1.2, sealed transfers: `seal.age` (the last file of a sealed transfer: names, types, sizes,
 * checksums and the message, for the recipients only) is what a plain Transfer shows in the
 * clear, not a file the recipient asked for. Fetching it is never a start and never counts
 * toward the receipt; a sealed transfer is had once every other file is (src/store/delivery.ts
 * leaves it out the same way), and one of `seal.age` alone (a sealed text) is had when its
 * `transfer.ready` is acknowledged, like any message (./read.ts).
 */
export const isSealOf = (t: { sealed: number }, f: { name: string }) => t.sealed === 1 && f.name === SEAL_NAME;
