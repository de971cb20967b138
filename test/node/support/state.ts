import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

/**
 * Searching what `npm start` keeps on disk (PUSHDROP_STATE: local R2 blobs, D1 and Durable
 * Object SQLite files with their -wal and -shm, everything else wrangler writes there) for
 * something that must, or must not, be in it. Every file is read as bytes (nothing is decoded,
 * nothing skipped by its name), and a marker is looked for as UTF-8, as UTF-16LE (how V8's
 * serializer, which Durable Object storage uses, writes a string with any non-Latin-1 character)
 * and as base64 / base64url at each of the three alignments it could start at.
 */

/** The byte strings `marker` could be stored as. */
export function encodings(marker: string): Buffer[] {
  const raw = Buffer.from(marker, "utf8");
  const out = [raw, Buffer.from(marker, "utf16le")];
  for (let p = 0; p < 3; p++) {
    const b64 = Buffer.concat([Buffer.alloc(p, 0xff), raw]).toString("base64");
    // the characters that depend on the marker's bytes alone: whole groups of 3 after the prefix's group
    const from = p === 0 ? 0 : 4;
    const to = Math.floor((p + raw.length) / 3) * 4;
    const part = b64.slice(from, to);
    if (part.length >= 12) {
      out.push(Buffer.from(part), Buffer.from(part.replace(/\+/g, "-").replace(/\//g, "_")));
    }
  }
  return out;
}

export interface StateSearch {
  /** every file read (relative to the state directory) */
  files: string[];
  /** for each marker name, the files (relative) that hold it in one of its encodings */
  found: Record<string, string[]>;
}

/** Reads every file under `root` once and says which of `markers` (name → text) each holds. */
export function searchState(root: string, markers: Record<string, string>): StateSearch {
  const needles = Object.entries(markers).map(([name, m]) => [name, encodings(m)] as const);
  const found: Record<string, string[]> = Object.fromEntries(Object.keys(markers).map((k) => [k, []]));
  const files: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      let st;
      try {
        st = statSync(p);
      } catch {
        continue; // (removed while we looked: a -shm or a temporary file)
      }
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) {
        let bytes: Buffer;
        try {
          bytes = readFileSync(p);
        } catch {
          continue;
        }
        const rel = path.relative(root, p);
        files.push(rel);
        for (const [n, encs] of needles) if (encs.some((e) => bytes.includes(e))) found[n]!.push(rel);
      }
    }
  };
  walk(root);
  return { files, found };
}

const under = (rel: string, ...dirs: string[]) => {
  const parts = rel.split(path.sep);
  return dirs.every((d) => parts.includes(d));
};
/** R2 blobs as wrangler dev keeps them (the objects' bytes, one file each). */
export const isR2Blob = (rel: string) => under(rel, "r2", "blobs");
/** SQLite databases (D1, Durable Object storage) with their write-ahead logs. */
export const isSqlite = (rel: string) => /\.sqlite(-wal|-shm)?$/.test(rel);
/** D1's SQLite files (wrangler dev keeps each database under v3/d1/). */
export const isD1 = (rel: string) => under(rel, "d1") && isSqlite(rel);
/** Durable Object storage's SQLite files (v3/do/<script>-<class>/). */
export const isDurableObject = (rel: string) => under(rel, "do") && isSqlite(rel);
