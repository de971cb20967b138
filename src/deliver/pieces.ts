/**
 * Where the bytes of a package range come from. A package is its frame (one small R2
 * object: every byte of the ZIP but the files' own) with each file's bytes in between, at
 * the file's data offset, and those bytes are the file's uploaded part objects, in order.
 * Plain arithmetic, no I/O: src/deliver/download.ts fetches and pipes what this lists.
 */

export interface StoredPart {
  key: string;
  size: number;
}

export interface FileLayout {
  /** where the file's bytes start in the package */
  dataOffset: number;
  size: number;
  /** its part objects, in order (sizes add up to `size`) */
  parts: readonly StoredPart[];
}

/** `length` bytes from `offset` of the frame object, or of one part object. */
export type Piece = { from: "frame"; offset: number; length: number } | { from: "object"; key: string; offset: number; length: number };

/** The pieces of bytes [start, end) of one file's bytes. */
export function filePieces(parts: readonly StoredPart[], start: number, end: number): Piece[] {
  const out: Piece[] = [];
  let at = 0;
  for (const p of parts) {
    const from = Math.max(start, at);
    const to = Math.min(end, at + p.size);
    if (from < to) out.push({ from: "object", key: p.key, offset: from - at, length: to - from });
    at += p.size;
    if (at >= end) break;
  }
  return out;
}

/**
 * The pieces of package bytes [start, end) of a package of `size` bytes whose files
 * (non-empty or not, in any order) are laid out as `files` say.
 */
export function packagePieces(files: readonly FileLayout[], size: number, start: number, end: number): Piece[] {
  const out: Piece[] = [];
  const sorted = files.filter((f) => f.size > 0).sort((a, b) => a.dataOffset - b.dataOffset);
  let pos = start;
  /** file bytes before package offset `pos` (what the frame lacks) */
  let skipped = 0;
  const frame = (to: number) => {
    if (pos < to) {
      const prev = out.at(-1);
      if (prev?.from === "frame" && prev.offset + prev.length === pos - skipped) prev.length += to - pos;
      else out.push({ from: "frame", offset: pos - skipped, length: to - pos });
      pos = to;
    }
  };
  for (const f of sorted) {
    const fileEnd = f.dataOffset + f.size;
    if (fileEnd <= pos) {
      skipped += f.size;
      continue;
    }
    if (f.dataOffset >= end) break;
    frame(Math.min(f.dataOffset, end));
    if (pos >= end) break;
    const to = Math.min(fileEnd, end);
    out.push(...filePieces(f.parts, pos - f.dataOffset, to - f.dataOffset));
    pos = to;
    skipped += f.size;
  }
  frame(Math.min(end, size));
  return out;
}
