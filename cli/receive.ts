import { createReadStream, createWriteStream, mkdirSync, realpathSync, renameSync, rmSync } from "node:fs";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import { checkSeal, openStream, SealError } from "../client/seal";
import type { PushdropClient } from "../client";
import type { Transfer } from "../src/contract";
import { downloadToFile, sizeOf, type DownloadOptions } from "./download";
import { directDownload } from "./direct-get";
import { CliError, EXIT, integrityError, usageError } from "./exit";
import { ProgressView } from "./progress";
import { RetryNotes } from "./retrying";
import { fileDownload, packageDownload, unpacking } from "./temps";
import { freeName, safeSegments, type SavedFile } from "./unpack";
import type { Ui } from "./ui";
import { fetchSeal } from "./opening";
import { OnePass } from "./onepass";
import type { SealDocument } from "../client/seal";

/**
 * Receiving a transfer into a folder. The whole transfer comes as its package (one ZIP),
 * not file by file: only a complete package download counts as delivered (the sender's
 * receipt, `--wait`, maxDownloads), one ranged request resumes it, and its bytes are checked
 * twice: the package's sha256 (the API's `package.sha256`), and each file's as it streams in
 * (cli/onepass.ts). The package is kept as `D/.pushdrop-<id>.zip.part` until its files have
 * landed, so a killed download resumes from what is on disk.
 */

export interface Received {
  saved: SavedFile[];
  resumedFrom: number;
  /** a sealed transfer's seal (real names, the message), once opened */
  seal?: SealDocument;
}

/** What a sealed transfer needs to be opened: this terminal's identities, newest first. */
export function sealedNeedsKeys(transfer: Transfer, identities: readonly string[] | undefined): readonly string[] {
  if (identities && identities.length > 0) return identities;
  throw new CliError(
    `Transfer ${transfer.id} is sealed, and this computer holds no key for this terminal to open it (with PUSHDROP_ID/PUSHDROP_TOKEN, set PUSHDROP_IDENTITY too).`,
    EXIT.integrity,
    "no_key",
  );
}

/**
 * `opened`: a sealed transfer's seal already fetched and opened (listen shows it before asking),
 * checked again here against the transfer as it is now instead of being fetched a second time.
 */
export async function receivePackage(
  client: PushdropClient,
  ui: Ui,
  transfer: Transfer,
  dir: string,
  signal?: AbortSignal,
  identities?: readonly string[],
  opened?: SealDocument,
): Promise<Received> {
  const keys = transfer.sealed ? sealedNeedsKeys(transfer, identities) : null;
  if (!transfer.package) throw notReady(transfer);
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  const part = packageDownload(root, transfer.id);
  const pkg = transfer.package;
  const label = `${transfer.files.length} file${transfer.files.length === 1 ? "" : "s"} (package)`;
  let seal: SealDocument | undefined;
  if (keys && opened) {
    // the seal `listen` already opened to show the transfer: checked again against it as it is now
    try {
      checkSeal(opened, transfer);
    } catch (e) {
      throw e instanceof SealError ? integrityError(`${e.message}; nothing was kept.`, e.code) : e;
    }
    seal = opened;
  } else if (keys) seal = await fetchSeal(client, transfer, keys, signal); // (seal.age alone: a few KiB, no receipt)
  const pass = new OnePass(root, transfer, seal ?? null, keys ?? []);
  let resumedFrom: number;
  try {
    resumedFrom = await fetchPart(client, ui, label, url(client, transfer), part, pkg.size, pkg.sha256, signal, (fh) => pass.store(fh));
  } catch (e) {
    // a download that can go on later keeps what it wrote (the next run reads it back once);
    // bytes found wrong leave nothing
    if ((e as { exitCode?: number }).exitCode === EXIT.integrity) pass.discard();
    else await pass.close();
    throw e;
  }
  let saved: Awaited<ReturnType<OnePass["finish"]>>;
  try {
    saved = await pass.finish();
  } catch (e) {
    // bytes found wrong at the end (a file's SHA-256, a sealed file that does not open): the
    // package's bytes go too, as the message says ("nothing was kept"); a new run starts over
    if ((e as { exitCode?: number }).exitCode === EXIT.integrity) rmSync(part, { force: true });
    throw e;
  }
  if (!saved) throw new Error("the one pass was given up"); // (only feed() gives it up)
  rmSync(part, { force: true });
  return { saved, resumedFrom, seal };
}

const url = (client: PushdropClient, t: Transfer) => t.downloadUrl ?? client.packagePath(t.id);

/**
 * One file of a transfer (`get --file`): a ranged read of it into a `.part`, resumable, checked
 * by the sha256 the server gives (of the age file, when sealed); the server counts it toward the
 * receipt (a delivery once every file was fetched). A sealed one (`sealed`:
 * its opened seal, and this terminal's identities) is then decrypted into a new file beside its
 * place, checked against the seal's size and SHA-256, and only then named by its real name.
 */
export async function receiveFile(
  client: PushdropClient,
  ui: Ui,
  transfer: Transfer,
  index: number,
  dir: string,
  signal?: AbortSignal,
  sealed?: { seal: SealDocument; identities: readonly string[] },
): Promise<Received> {
  const f = transfer.files[index];
  // what is saved: the file as the server lists it, or (sealed) as its seal says
  const files = sealed ? sealed.seal.files : transfer.files;
  const s = files[index];
  if (!s || !f) throw usageError(`Transfer ${transfer.id} has no file ${index} (it has ${files.length}: 0–${files.length - 1}).`);
  if (!f.sha256 || !s.sha256) throw notReady(transfer);
  const sha256 = s.sha256;
  const segments = safeSegments(s.name);
  // the file goes into D by its base name: a single file asked for by itself
  const base = segments[segments.length - 1]!;
  mkdirSync(dir, { recursive: true });
  const root = realpathSync(dir);
  const part = fileDownload(root, transfer.id, index);
  const resumedFrom = await fetchPart(client, ui, s.name, f.downloadUrl ?? client.filePath(transfer.id, index), part, f.size, f.sha256, signal);
  let file = part;
  if (sealed) {
    file = unpacking(root, transfer.id, index);
    rmSync(file, { force: true });
    try {
      const plain = await openStream(Readable.toWeb(createReadStream(part, { highWaterMark: 1 << 20 })) as unknown as ReadableStream<Uint8Array>, sealed.identities, { sealedSize: f.size, size: s.size, sha256 });
      await pipeline(Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>), createWriteStream(file, { flags: "wx" }));
    } catch (e) {
      rmSync(file, { force: true });
      throw e instanceof SealError ? integrityError(`${s.name}: ${e.message}; nothing was kept.`, e.code) : e;
    }
    rmSync(part, { force: true });
  }
  const target = await placeBeside(root, base, file, s.size, sha256);
  return { saved: [{ index, name: s.name, path: target.path, size: s.size, sha256, alreadyThere: target.same }], resumedFrom, seal: sealed?.seal };
}

/** Downloads into `part` (resuming what is there) with a progress display; returns the bytes that were already there. */
async function fetchPart(
  client: PushdropClient,
  ui: Ui,
  label: string,
  url: string,
  part: string,
  size: number,
  sha256: string,
  signal?: AbortSignal,
  store?: DownloadOptions["store"],
): Promise<number> {
  const view = new ProgressView(ui, "received", [{ name: label, size }], [Math.min(sizeOf(part), size)]);
  const tries = 6;
  const notes = new RetryNotes(ui, tries);
  let moved = -1;
  try {
    const { resumedFrom } = await downloadToFile(client, url, part, {
      size,
      sha256,
      signal,
      tries,
      store,
      get: directDownload,
      onRetry: (attempt, ms, status) => notes.retrying(attempt, ms, status),
      onProgress: (bytes) => {
        if (moved !== -1 && bytes > moved) notes.through();
        moved = bytes;
        view.update([bytes], new Set());
      },
    });
    view.end(true);
    return resumedFrom;
  } catch (e) {
    view.end(false);
    throw e;
  }
}

async function placeBeside(root: string, base: string, part: string, size: number, sha256: string): Promise<{ path: string; same: boolean }> {
  const { target, same } = await freeName(root, base, size, sha256);
  if (same) rmSync(part, { force: true });
  else renameSync(part, target);
  return { path: target, same };
}

/** Said before asking the server, which would answer the same (409 not_ready, or 410). */
function notReady(t: Transfer): CliError {
  const gone = ["expired", "cancelled", "failed"].includes(t.status);
  return new CliError(
    gone ? `Transfer ${t.id} is ${t.status}; there is nothing to download.` : `Transfer ${t.id} is still ${t.status}; it can be downloaded once it is ready.`,
    EXIT.api,
    gone ? `transfer_${t.status}` : "not_ready",
  );
}
