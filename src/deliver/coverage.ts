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
 * The spans of each file that bytes [start, end) of the representation hold, in file offsets.
 * An empty file is held by a range that reaches its offset (its entry's header before it goes
 * with the range; a read of the ZIP's end alone holds none).
 */
export function spansOf(files: readonly FileAt[], start: number, end: number): FileSpan[] {
  const out: FileSpan[] = [];
  for (const f of files) {
    if (f.size === 0) {
      if (start <= f.offset && f.offset <= end) out.push({ idx: f.idx, from: 0, to: 0 });
      continue;
    }
    const from = Math.max(start, f.offset);
    const to = Math.min(end, f.offset + f.size);
    if (from < to) out.push({ idx: f.idx, from: from - f.offset, to: to - f.offset });
  }
  return out;
}

/**
 * Whether bytes [start, end) hold the end of some file (its last byte, or an empty file): only
 * such a response can be the one that completes what a recipient has, so only then is that
 * asked (a read of the ZIP's end record never is).
 */
export function endsAFile(files: readonly FileAt[], start: number, end: number): boolean {
  return files.some((f) => (f.size === 0 ? start <= f.offset && f.offset <= end : start < f.offset + f.size && f.offset + f.size <= end));
}
