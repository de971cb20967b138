import { MAX_NAME_BYTES, MAX_PATH_BYTES } from "../config";
import { cleanName, MANIFEST_NAME } from "../contract";

/**
 * Safe names for files inside a package. A sender's name may be a relative path
 * ("photos/2024/a.jpg"); each segment is cleaned so that nothing can escape the folder
 * the package is unpacked into, collide with another entry, or break a header:
 *  - the one name rule of src/contract/names.ts (cleanName): NFC, control characters, bidi
 *    controls, invisible characters and line separators dropped, ZWJ/ZWNJ kept only between
 *    letters and inside emoji sequences (quotes and other punctuation are kept: they are
 *    legal in names, and Content-Disposition carries them safely);
 *  - "\" is read as a separator (Windows paths);
 *  - ":" replaced by "_" (on Windows it would address an NTFS alternate data stream);
 *  - leading/trailing spaces and trailing dots trimmed; "", "." and ".." segments dropped;
 *  - a leading Windows drive ("C:") dropped, like a leading "/";
 *  - Windows device names (CON, NUL, COM1, …) prefixed with "_";
 *  - each segment at most 255 UTF-8 bytes (the extension is kept), the path at most 1024;
 *  - duplicates (compared case-insensitively, and against folder names) get " (2)", " (3)" …;
 *  - "manifest.json" at the top is reserved for the package's manifest.
 */

const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i;

const enc = new TextEncoder();
const byteLength = (s: string) => enc.encode(s).byteLength;

function truncateBytes(s: string, max: number): string {
  if (byteLength(s) <= max) return s;
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = byteLength(ch);
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  // a joiner the cut left at the end joins nothing (the name rule drops it)
  return out.replace(/[\u200c\u200d]+$/, "");
}

function splitExt(name: string): [string, string] {
  const dot = name.lastIndexOf(".");
  if (dot <= 0 || name.length - dot > 16) return [name, ""];
  return [name.slice(0, dot), name.slice(dot)];
}

export function cleanSegment(raw: string): string {
  // ":" would name an NTFS alternate data stream on Windows ("a.exe:Zone.Identifier")
  let s = cleanName(raw).replace(/:/g, "_").trim().replace(/[. ]+$/, "");
  if (s === "" || s === "." || s === "..") return "";
  if (DEVICE.test(s)) s = `_${s}`;
  if (byteLength(s) > MAX_NAME_BYTES) {
    const [stem, ext] = splitExt(s);
    s = truncateBytes(stem, MAX_NAME_BYTES - byteLength(ext)).trimEnd() + ext;
  }
  return s;
}

/** One name made safe, or null when nothing usable is left of it. */
export function cleanPath(raw: string): string | null {
  // a Windows drive ("C:\…", "C:name") makes a path absolute, and some unzippers honour it: drop it
  const undriven = cleanName(raw).trimStart().replace(/^[A-Za-z]:/, "");
  const segments = undriven.split(/[\\/]+/).map(cleanSegment).filter((s) => s !== "");
  if (segments.length === 0) return null;
  let path = segments.join("/");
  if (byteLength(path) > MAX_PATH_BYTES) {
    // keep the file's own name; shorten the folders in front of it
    const base = segments[segments.length - 1]!;
    path = base;
  }
  return path;
}

function withSuffix(path: string, n: number): string {
  const slash = path.lastIndexOf("/");
  const dir = slash >= 0 ? path.slice(0, slash + 1) : "";
  const [stem, ext] = splitExt(path.slice(slash + 1));
  const suffix = ` (${n})`;
  return dir + truncateBytes(stem, MAX_NAME_BYTES - byteLength(ext) - byteLength(suffix)) + suffix + ext;
}

export type NamingResult = { ok: true; names: string[] } | { ok: false; index: number; name: string };

/** Safe, unique names for a list of sender-given names, in order. */
export function safeNames(rawNames: readonly string[]): NamingResult {
  const cleaned: string[] = [];
  for (let i = 0; i < rawNames.length; i++) {
    const c = cleanPath(rawNames[i]!);
    if (c === null) return { ok: false, index: i, name: rawNames[i]! };
    cleaned.push(c);
  }
  const folders = new Set<string>();
  for (const c of cleaned) {
    const parts = c.toLowerCase().split("/");
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join("/"));
  }
  const used = new Set<string>([MANIFEST_NAME]);
  const names = cleaned.map((c) => {
    let name = c;
    for (let n = 2; used.has(name.toLowerCase()) || folders.has(name.toLowerCase()); n++) name = withSuffix(c, n);
    used.add(name.toLowerCase());
    return name;
  });
  return { ok: true, names };
}

/** The last segment of a package path: what a browser should save one file as. */
export const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1);
