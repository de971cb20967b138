import { createHash, type Hash } from "node:crypto";
import { createReadStream, lstatSync, mkdirSync, renameSync, rmdirSync, rmSync } from "node:fs";
import path from "node:path";
import { integrityError } from "./exit";

/**
 * The names of the CLI's own files beside what it saves, in one place so that none can be
 * mistaken for another: each starts with `.pushdrop-` and the transfer id, and a run that was
 * killed finds its own again (a `.part` is resumed, an `.unpacking` is removed and redone).
 *
 * None of them is ever written through a link: a `.part` is opened with `O_NOFOLLOW` and
 * created with `O_EXCL` (cli/download.ts `openPart`), and so is an `.unpacking` of the one pass
 * (cli/onepass.ts; resumed ones checked as a `.part` is); one made by `get --file` or
 * cli/unpack.ts is removed and created with `wx`; the config's and the records' temporary files
 * too (`wx`, cli/config.ts `writePrivate`).
 */

/** the transfer id, kept to the characters a file name can always hold (ids are base64url) */
const safe = (id: string) => id.replace(/[^A-Za-z0-9_-]/g, "_");

/** The package being downloaded into `dir` (`get`, `listen`): resumed when run again. */
export const packageDownload = (dir: string, transferId: string) => path.join(dir, `.pushdrop-${safe(transferId)}.zip.part`);

/** One file being downloaded into `dir` (`get --file`): resumed when run again. */
export const fileDownload = (dir: string, transferId: string, index: number) => path.join(dir, `.pushdrop-${safe(transferId.slice(0, 8))}-${index}.part`);

/**
 * A file being unpacked from a package, beside its place in `folder`; not a `.part`, which is
 * the resumable download of `get --file` and must not be removed by an unpack.
 */
export const unpacking = (folder: string, transferId: string, index: number) => path.join(folder, `.pushdrop-${safe(transferId.slice(0, 8))}-${index}.unpacking`);

/**
 * Where the files of one transfer land: each is written to its `.unpacking` file beside its
 * place (folders made one segment at a time, never through a link), and only when every file
 * checked out are they renamed into place (`land`); else `rollback` removes the temporary files
 * and the folders made for them that are still empty. The one way `get`, `listen` and the
 * unpacking of a `.part` (plain or sealed) put files in a folder.
 */
export class Landing {
  private readonly created: string[] = [];
  private readonly temps: Array<{ folder: string; base: string; tmp: string; file: Omit<SavedFile, "path" | "alreadyThere"> }> = [];

  constructor(
    private readonly root: string,
    private readonly transferId: string,
  ) {}

  /**
   * The temporary file of `file` (its `segments`: safeSegments of its name). `fresh`: a
   * leftover of an interrupted run is removed first (a link is removed, not followed); else the
   * caller resumes it (cli/download.ts openPart: never through a link).
   */
  temp(file: Omit<SavedFile, "path" | "alreadyThere">, segments: readonly string[], fresh = true): string {
    const folder = ensureFolders(this.root, segments.slice(0, -1), this.created);
    const tmp = unpacking(folder, this.transferId, file.index);
    if (fresh) rmSync(tmp, { force: true });
    this.temps.push({ folder, base: segments[segments.length - 1]!, tmp, file });
    return tmp;
  }

  /** Every temporary file into its place (a name taken gets " (2)"…, unless it holds the same bytes). */
  async land(onFile?: (f: SavedFile) => void): Promise<SavedFile[]> {
    const saved: SavedFile[] = [];
    for (const { folder, base, tmp, file } of this.temps) {
      const { target, same } = await freeName(folder, base, file.size, file.sha256);
      if (same) rmSync(tmp, { force: true });
      else renameSync(tmp, target);
      const s: SavedFile = { ...file, path: target, alreadyThere: same };
      saved.push(s);
      onFile?.(s);
    }
    this.temps.length = 0;
    this.created.length = 0;
    return saved;
  }

  /** Removes the temporary files and the folders made for them that are still empty. */
  rollback(): void {
    for (const t of this.temps) rmSync(t.tmp, { force: true });
    this.temps.length = 0;
    for (const d of this.created.reverse()) {
      try {
        rmdirSync(d);
      } catch {
        // not empty: something else is in it now
      }
    }
    this.created.length = 0;
  }
}

/** What was saved of a transfer, and where. */
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
    if (st.isSymbolicLink()) throw unsafeName(path.relative(root, here), "it would be written through a symbolic link in the target folder");
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

export const unsafeName = (name: string, why: string) =>
  integrityError(`The package holds an unsafe file name ${JSON.stringify(name)} (${why}); nothing was written.`, "unsafe_name", { name });

async function hashFile(file: string): Promise<Hash> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash;
}
