import { lstatSync, readdirSync, realpathSync, statSync } from "node:fs";
import path from "node:path";
import { usageError } from "./exit";

/**
 * What `pushdrop send a.txt photos/` sends: each file by its name, and each directory as
 * its files with their paths below the directory's parent kept (`photos/2024/a.jpg`), as
 * `scp -r` and `zip -r` name them. The server keeps folders in names. Entries come in a
 * fixed (sorted) order, so sending the same arguments again declares the same transfer.
 */

export interface LocalFile {
  /** absolute path on this computer */
  path: string;
  /** the name sent: relative, `/`-separated */
  name: string;
  size: number;
  mtimeMs: number;
}

export interface Collected {
  files: LocalFile[];
  /** things left out, with why (symlinked folders, sockets…) */
  skipped: string[];
}

export function collectFiles(args: readonly string[]): Collected {
  const files: LocalFile[] = [];
  const skipped: string[] = [];
  for (const arg of args) {
    const abs = path.resolve(arg);
    const st = statSync(abs); // follows a symlink given by name; ENOENT is reported by the caller
    if (st.isFile()) {
      files.push({ path: abs, name: path.basename(abs), size: st.size, mtimeMs: st.mtimeMs });
    } else if (st.isDirectory()) {
      const base = path.basename(abs);
      const before = files.length;
      walk(abs, base, files, skipped, realpathSync(abs));
      if (files.length === before) skipped.push(`${arg}: an empty folder (nothing to send)`);
    } else {
      throw usageError(`${arg} is neither a file nor a folder.`);
    }
  }
  return { files, skipped };
}

/**
 * `root` is the real path of the folder named on the command line: a symbolic link inside it
 * is sent as the file it points to only when that file is inside the folder too. A link out
 * of it (to ~/.ssh/id_ed25519, say) is left out and said so: sending a folder never sends
 * what lies outside it (name such a file on the command line to send it).
 */
function walk(dir: string, prefix: string, out: LocalFile[], skipped: string[], root: string): void {
  const entries = readdirSync(dir).sort();
  for (const entry of entries) {
    const abs = path.join(dir, entry);
    const name = prefix ? `${prefix}/${entry}` : entry;
    const l = lstatSync(abs);
    if (l.isSymbolicLink()) {
      // a link to a file in the folder is sent as that file; a link to a folder could loop
      let st;
      let target: string;
      try {
        st = statSync(abs);
        target = realpathSync(abs);
      } catch {
        skipped.push(`${name}: a broken symbolic link`);
        continue;
      }
      if (!target.startsWith(root + path.sep)) skipped.push(`${name}: a symbolic link out of the folder (not followed)`);
      else if (st.isFile()) out.push({ path: abs, name, size: st.size, mtimeMs: st.mtimeMs });
      else skipped.push(`${name}: a symbolic link to a folder (not followed)`);
    } else if (l.isDirectory()) {
      walk(abs, name, out, skipped, root);
    } else if (l.isFile()) {
      out.push({ path: abs, name, size: l.size, mtimeMs: l.mtimeMs });
    } else {
      skipped.push(`${name}: not a regular file`);
    }
  }
}
