import path from "node:path";

/**
 * The names of the CLI's own files beside what it saves, in one place so that none can be
 * mistaken for another: each starts with `.pushdrop-` and the transfer id, and a run that was
 * killed finds its own again (a `.part` is resumed, an `.unpacking` is removed and redone).
 *
 * None of them is ever written through a link: a `.part` is opened with `O_NOFOLLOW` and
 * created with `O_EXCL` (cli/download.ts `openPart`), an `.unpacking` is removed and created
 * with `wx` (cli/unpack.ts); the config's and the unfinished sends' temporary files too (`wx`).
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
