import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, lstatSync, mkdirSync, realpathSync, renameSync, rmdirSync, rmSync } from "node:fs";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createInflateRaw } from "node:zlib";
import type { Transfer } from "../src/contract";
import { MANIFEST_NAME, type Manifest } from "../src/contract/package";
import { hashFile } from "./download";
import { integrityError } from "./exit";
import { unpacking } from "./temps";
import { readZipEntries, type ZipEntry } from "./zip";

/**
 * Unpacks a downloaded package into a folder D without ever writing outside it.
 *
 * 1. Every name is checked before anything is written: a name that is absolute, has a drive
 *    letter or a `:`, a `\`, a `.`/`..`/empty segment, a control character (NUL included) or,
 *    on Windows, a reserved device name, is an error for the whole package, not a file.
 * 2. Folders are made one segment at a time; a segment that exists as a symbolic link (or as
 *    anything but a folder) is an error: a link planted in D is never followed out of it.
 * 3. Each file is written to a new temporary file next to its place (`wx`: never through an
 *    existing file or link), its size and sha256 checked against the manifest (itself checked
 *    against the API's transfer), and only when every file is right are they renamed into
 *    place. A name already taken gets " (2)", " (3)"…, unless it holds the same bytes (an
 *    unpack interrupted and run again), which is kept as it is.
 */

export interface SavedFile {
  index: number;
  /** the name in the transfer */
  name: string;
  /** where it was written */
  path: string;
  size: number;
  sha256: string;
  /** the same bytes were already there under this name */
  alreadyThere: boolean;
}

const unsafe = (name: string, why: string) =>
  integrityError(`The package holds an unsafe file name ${JSON.stringify(name)} (${why}); nothing was written.`, "unsafe_name", { name });

const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;

/** The path segments of a name from a package, or an error when the name could leave D. */
export function safeSegments(name: string, platform: NodeJS.Platform = process.platform): string[] {
  if (typeof name !== "string" || name.length === 0) throw unsafe(String(name), "empty");
  if (/[\u0000-\u001f\u007f]/.test(name)) throw unsafe(name, "a control character");
  if (name.includes("\\")) throw unsafe(name, "a backslash");
  if (name.startsWith("/")) throw unsafe(name, "an absolute path");
  if (/^[A-Za-z]:/.test(name)) throw unsafe(name, "a drive letter");
  if (name.includes(":")) throw unsafe(name, "a colon");
  const segments = name.split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") throw unsafe(name, s === ".." ? "a parent-folder segment" : "an empty or '.' segment");
    if (Buffer.byteLength(s) > 255) throw unsafe(name, "a segment over 255 bytes");
    if (platform === "win32") {
      if (WINDOWS_DEVICE.test(s)) throw unsafe(name, "a Windows device name");
      if (/[<>"|?*]/.test(s) || /[. ]$/.test(s)) throw unsafe(name, "a character Windows does not allow");
    }
  }
  return segments;
}

export interface UnpackOptions {
  /** told of each file as it is written */
  onFile?: (f: SavedFile) => void;
}

export async function unpackPackage(zipFile: string, dir: string, transfer: Pick<Transfer, "id" | "files">, opts: UnpackOptions = {}): Promise<{ manifest: Manifest; saved: SavedFile[] }> {
  const entries = await readZipEntries(zipFile);
  const manifest = await readManifest(zipFile, entries, transfer);
  const byName = new Map<string, ZipEntry>();
  for (const e of entries) {
    if (byName.has(e.name)) throw integrityError(`The package holds ${JSON.stringify(e.name)} twice.`, "bad_package");
    byName.set(e.name, e);
  }

  // 1. every name and every entry checked before anything is written
  const plan = manifest.files.map((f) => {
    const entry = byName.get(f.name);
    if (!entry) throw integrityError(`The package lacks ${JSON.stringify(f.name)}, which its manifest lists.`, "bad_package");
    if (entry.size !== f.size) throw integrityError(`${f.name} is ${entry.size} bytes in the package, ${f.size} in its manifest.`, "bad_package");
    const segments = safeSegments(f.name);
    return { f, entry, segments };
  });
  const listed = new Set(manifest.files.map((f) => f.name));
  for (const e of entries) {
    if (e.name !== MANIFEST_NAME && !listed.has(e.name)) {
      throw integrityError(`The package holds ${JSON.stringify(e.name)}, which its manifest does not list.`, "bad_package");
    }
  }
  const targets = new Set<string>();
  for (const p of plan) {
    const key = p.segments.join("/").normalize("NFC").toLowerCase();
    if (targets.has(key)) throw integrityError(`The package names ${JSON.stringify(p.f.name)} twice.`, "bad_package");
    targets.add(key);
  }

  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  const created: string[] = [];
  const temps: string[] = [];
  try {
    // 2. each file into a temporary file beside its place, checked
    const written: Array<{ p: (typeof plan)[number]; folder: string; tmp: string }> = [];
    for (const p of plan) {
      const folder = ensureFolders(root, p.segments.slice(0, -1), created);
      const tmp = unpacking(folder, transfer.id, p.f.index);
      rmSync(tmp, { force: true }); // a leftover of an interrupted unpack (a link is removed, not followed)
      temps.push(tmp);
      const hash = createHash("sha256");
      let size = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _e, cb) {
          size += chunk.length;
          // a (deflated) entry that inflates past its size is refused as it streams, not once on disk
          if (size > p.f.size) return cb(integrityError(`${p.f.name} holds more than the ${p.f.size} bytes its manifest says; nothing was kept.`, "sha256_mismatch", { name: p.f.name }));
          hash.update(chunk);
          cb(null, chunk);
        },
      });
      const stages: Array<Readable | Transform> = [entryStream(zipFile, p.entry)];
      if (p.entry.method === 8) stages.push(createInflateRaw());
      await pipeline([...stages, tap, createWriteStream(tmp, { flags: "wx" })]);
      const sha = hash.digest("hex");
      if (size !== p.f.size || sha !== p.f.sha256) {
        throw integrityError(`${p.f.name} does not match its checksum in the manifest (got ${size} bytes, sha256 ${sha}); nothing was kept.`, "sha256_mismatch", { name: p.f.name });
      }
      written.push({ p, folder, tmp });
    }

    // 3. all good: into place
    const saved: SavedFile[] = [];
    for (const { p, folder, tmp } of written) {
      const { target, same } = await freeName(folder, p.segments[p.segments.length - 1]!, p.f.size, p.f.sha256);
      if (same) rmSync(tmp, { force: true });
      else renameSync(tmp, target);
      const s: SavedFile = { index: p.f.index, name: p.f.name, path: target, size: p.f.size, sha256: p.f.sha256, alreadyThere: same };
      saved.push(s);
      opts.onFile?.(s);
    }
    temps.length = 0;
    return { manifest, saved };
  } catch (e) {
    for (const t of temps) rmSync(t, { force: true });
    for (const d of created.reverse()) {
      try {
        rmdirSync(d); // only if still empty
      } catch {
        // not empty: something else is in it now
      }
    }
    throw e;
  }
}

const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

export async function readManifest(zipFile: string, entries: ZipEntry[], transfer: Pick<Transfer, "id" | "files">): Promise<Manifest> {
  const entry = entries.find((e) => e.name === MANIFEST_NAME);
  if (!entry) throw integrityError("The package has no manifest.json.", "bad_package");
  if (entry.size > MAX_MANIFEST_BYTES) throw integrityError("The package's manifest.json is implausibly large.", "bad_package");
  const chunks: Buffer[] = [];
  let held = 0;
  const stages: Array<Readable | Transform> = [entryStream(zipFile, entry)];
  if (entry.method === 8) stages.push(createInflateRaw());
  await pipeline([
    ...stages,
    new Transform({
      transform(c: Buffer, _e, cb) {
        held += c.length;
        // what it inflates to is bounded too, as it streams
        if (held > MAX_MANIFEST_BYTES) return cb(integrityError("The package's manifest.json is implausibly large.", "bad_package"));
        chunks.push(c);
        cb();
      },
    }),
  ]);
  let m: Manifest;
  try {
    m = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Manifest;
  } catch {
    throw integrityError("The package's manifest.json is not JSON.", "bad_package");
  }
  if (!m || !Array.isArray(m.files) || m.transferId !== transfer.id) {
    throw integrityError("The package's manifest.json is not this transfer's.", "bad_package");
  }
  // the manifest must say what the API says (names, sizes, checksums)
  if (m.files.length !== transfer.files.length) throw integrityError("The package's manifest lists other files than the transfer.", "bad_package");
  for (const f of m.files) {
    const api = transfer.files[f.index];
    if (!api || api.name !== f.name || api.size !== f.size || (api.sha256 !== null && api.sha256 !== f.sha256) || !/^[0-9a-f]{64}$/.test(f.sha256)) {
      throw integrityError(`The package's manifest entry for ${JSON.stringify(f.name)} differs from the transfer.`, "bad_package");
    }
  }
  return m;
}

export function entryStream(zipFile: string, e: ZipEntry): Readable {
  if (e.compressedSize === 0) return Readable.from([]); // createReadStream's `end` is inclusive: no empty range
  return createReadStream(zipFile, { start: e.dataOffset, end: e.dataOffset + e.compressedSize - 1, highWaterMark: 1 << 20 });
}

/** root/a/b/…, made one segment at a time; a segment that is a link or a file is an error. */
export function ensureFolders(root: string, segments: readonly string[], created: string[]): string {
  let here = root;
  for (const s of segments) {
    here = path.join(here, s);
    let st;
    try {
      st = lstatSync(here);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      mkdirSync(here);
      created.push(here);
      continue;
    }
    if (st.isSymbolicLink()) throw unsafe(path.relative(root, here), "it would be written through a symbolic link in the target folder");
    if (!st.isDirectory()) throw integrityError(`${path.relative(root, here)} exists and is not a folder; cannot put files in it.`, "name_taken");
  }
  return here;
}

/** `name`, or `name (2)`, `name (3)`…: the first that is free, or that already holds these bytes. */
export async function freeName(folder: string, name: string, size: number, sha256: string): Promise<{ target: string; same: boolean }> {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let k = 1; ; k++) {
    const target = path.join(folder, k === 1 ? name : `${stem} (${k})${ext}`);
    let st;
    try {
      st = lstatSync(target);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return { target, same: false };
      throw e;
    }
    if (st.isFile() && st.size === size && (await hashFile(target)).digest("hex") === sha256) return { target, same: true };
  }
}
