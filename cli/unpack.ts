import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, mkdirSync, realpathSync } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createInflateRaw } from "node:zlib";
import type { Transfer } from "../src/contract";
import { MANIFEST_NAME, type Manifest } from "../src/contract/package";
import { integrityError } from "./exit";
import { Landing, unsafeName, type SavedFile } from "./temps";
import { readZipEntries, type ZipEntry } from "./zip";

/**
 * Unpacks a downloaded package into a folder D without ever writing outside it. (`get` and
 * `listen` receive in one pass, cli/onepass.ts, with the same name rule, safeSegments, and the
 * same landing, cli/temps.ts; unpackPackage, of a whole package on disk, is what
 * test/cli/unpack.test.ts drives with hostile packages.)
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

export { ensureFolders, freeName, type SavedFile } from "./temps";

const unsafe = unsafeName;

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
  const landing = new Landing(realpathSync(dir), transfer.id);
  try {
    // 2. each file into a temporary file beside its place, checked
    for (const p of plan) {
      const tmp = landing.temp({ index: p.f.index, name: p.f.name, size: p.f.size, sha256: p.f.sha256 }, p.segments);
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
    }
    // 3. all good: into place
    return { manifest, saved: await landing.land(opts.onFile) };
  } catch (e) {
    landing.rollback();
    throw e;
  }
}

const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

async function readManifest(zipFile: string, entries: ZipEntry[], transfer: Pick<Transfer, "id" | "files">): Promise<Manifest> {
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

function entryStream(zipFile: string, e: ZipEntry): Readable {
  if (e.compressedSize === 0) return Readable.from([]); // createReadStream's `end` is inclusive: no empty range
  return createReadStream(zipFile, { start: e.dataOffset, end: e.dataOffset + e.compressedSize - 1, highWaterMark: 1 << 20 });
}
