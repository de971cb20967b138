/**
 * What a package holds besides the files (shared/api.md, "Package"): `manifest.json`, last,
 * with the transfer id, the sender, the message, and each file's name, size, type and sha256.
 * Written by the worker (src/package/build.ts), read by the CLI (cli/unpack.ts).
 */

/** The manifest's name at the top of the package (reserved: no file gets it). */
export const MANIFEST_NAME = "manifest.json";

export interface Manifest {
  /** the format's version: 1 */
  pushdrop: number;
  transferId: string;
  /** ISO 8601 */
  createdAt: string;
  from: { id: string; name: string };
  message: string | null;
  files: Array<{ index: number; name: string; size: number; type: string; sha256: string }>;
}
