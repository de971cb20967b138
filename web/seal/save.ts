import type { Transfer } from "../../src/contract";
import { cleanName } from "../../src/contract/names";
import type { SealedFile } from "../../src/contract/seal";
import { identitiesOf } from "../shared/keystore";
import { SAVE_PATH, type SaveJob, type SaveReport } from "../shared/save-job";
import { resumingBody } from "../shared/resuming-body";
import { K } from "./kit";

/**
 * Saving a sealed file (issue 23): decrypted as a stream to disk under its real name, never
 * whole in memory, by the first way this browser has:
 *  - "sw": the service worker (web/sw/seal.ts) answers a hidden frame's navigation to
 *    `/_sealed/<job>/<name>` with the plaintext, decrypted while it streams from the file's
 *    signed link, as an attachment, into the browser's own downloads (as Firefox Send did);
 *  - "picker": the File System Access API (showSaveFilePicker), where no service worker
 *    controls the page;
 *  - "blob": in memory, for files of at most BLOB_MAX bytes only, where neither exists, and on
 *    iPhone and iPad (whose Safari may not stream a service worker's download to disk).
 * The plaintext's size and SHA-256 are checked as it streams (client/seal openStream fails at the
 * end): the service worker holds back the last chunk until the check passes, so a file that fails
 * never completes in the downloads; the picker's file is discarded; the Blob is never offered.
 */

/** 64 MB (under the 64 MiB the design allows), so that the sentence that names it reads "64 MB" */
export const BLOB_MAX = 64_000_000;

export interface Job {
  transfer: Transfer;
  file: SealedFile;
  self: string;
  onSaved: () => void;
  /** transfers whose last save failed its check (the card then offers Download, not Save again) */
  failedCheck: Set<string>;
}

const WORDS = {
  saving: (percent: number) => K.t("open.saving", { percent }),
  get saved() { return K.t("open.saved"); },
  get checkFailed() { return K.t("open.checkFailed"); },
  failed: (error: string) => K.t("open.saveFailed", { error }),
};

const isAppleMobile = () => /iPhone|iPad|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);

type Picker = (o: { suggestedName: string }) => Promise<FileSystemFileHandle & { createWritable(): Promise<WritableStream<Uint8Array>>; remove?(): Promise<void> }>;
const picker = () => (window as unknown as { showSaveFilePicker?: Picker }).showSaveFilePicker;

/** How this browser saves a sealed file (see above). */
export function saveWay(): "sw" | "picker" | "blob" {
  if (isAppleMobile()) return "blob";
  if (navigator.serviceWorker?.controller) return "sw";
  return picker() ? "picker" : "blob";
}

/** The name a file is saved under: its real name, cleaned (names.ts rule), without folders. */
export function saveName(name: string): string {
  const last = cleanName(name).split(/[/\\]/).filter((s) => s && s !== "." && s !== "..").pop();
  return (last ?? "").replace(/[:*?"<>|]/g, "_") || "file";
}

/** The transfer as the server shows it now (its signed links are fresh). */
async function fresh(job: Job): Promise<{ url: string; sealedSize: number }> {
  const t = await K.app.client.transfer(job.transfer.id);
  const f = t.files[job.file.index];
  if (!f || !f.downloadUrl) throw new Error(K.t("error.download_limit_reached"));
  return { url: f.downloadUrl, sealedSize: f.size };
}

/** The file decrypted as a stream, checked at its end against the seal. */
async function plainStream(job: Job, url: string, sealedSize: number): Promise<ReadableStream<Uint8Array>> {
  const [lib, ids, res] = await Promise.all([import("../../client/seal"), identitiesOf(job.self), K.app.client.download(url)]);
  if (!res.ok || !res.body) throw new Error(K.t("error.network"));
  // a dropped connection is resumed from the byte it got to, into the same decrypter
  const sealed = resumingBody(res, sealedSize, (from, etag) => K.app.client.download(url, { offset: from, ifRange: etag ?? undefined }));
  return lib.openStream(sealed, ids, { sealedSize, size: job.file.size, sha256: job.file.sha256 });
}

const isCheck = (e: unknown) => ["checksum_mismatch", "size_mismatch"].includes((e as { code?: string } | null)?.code ?? "");

/** Says a failure: a check that failed, or another error in words. */
function failure(e: unknown): string {
  return isCheck(e) ? WORDS.checkFailed : WORDS.failed(K.plainError(e));
}

type FileHandle = Awaited<ReturnType<Picker>>;
type DirectoryPicker = (o: { mode: "readwrite" }) => Promise<{ getFileHandle(name: string, o: { create: true }): Promise<FileHandle> }>;

/**
 * `into`: the file to write (Download of several, into a folder the person chose), or "blob"
 * (Download of several where there is no folder to write into); else as saveWay says.
 */
export async function saveFile(job: Job, status: HTMLElement, into?: FileHandle | "blob"): Promise<void> {
  const name = saveName(job.file.name);
  const way = into === "blob" ? "blob" : into ? "picker" : saveWay();
  let handle = into === "blob" ? undefined : into;
  try {
    // the picker first, while the click's user activation lasts
    if (way === "picker" && !handle) handle = await picker()!({ suggestedName: name });
  } catch {
    return; // the person closed the picker
  }
  status.textContent = WORDS.saving(0);
  try {
    const { url, sealedSize } = await fresh(job);
    if (way === "sw") await viaWorker(job, name, url, sealedSize, status);
    else if (handle) await viaPicker(handle, await plainStream(job, url, sealedSize), job.file.size, status);
    else await viaBlob(await plainStream(job, url, sealedSize), name, job.file.type);
    status.textContent = WORDS.saved;
    job.failedCheck.delete(job.transfer.id);
  } catch (e) {
    status.textContent = failure(e);
    if (isCheck(e)) job.failedCheck.add(job.transfer.id);
  } finally {
    job.onSaved();
  }
}

/**
 * Download of several files: each in turn, as saveFile does; with the picker, into one folder the
 * person chooses (one choice for all; two files of the same name get " (2)"), where the browser
 * has showDirectoryPicker, else only those that fit in memory. `list`: the files that may be saved here.
 */
export async function saveAll(list: ReadonlyArray<readonly [Job, HTMLElement]>): Promise<void> {
  let folder: Awaited<ReturnType<DirectoryPicker>> | undefined;
  if (saveWay() === "picker") {
    const choose = (window as unknown as { showDirectoryPicker?: DirectoryPicker }).showDirectoryPicker;
    try {
      folder = await choose?.({ mode: "readwrite" });
    } catch {
      return; // the person closed the picker
    }
  }
  const used = new Set<string>();
  for (const [job, status] of list) {
    if (folder) {
      const name = saveName(job.file.name);
      let free = name;
      for (let n = 2; used.has(free.toLowerCase()); n++) free = name.replace(/(\.[^.]*)?$/, (ext) => ` (${n})${ext}`);
      used.add(free.toLowerCase());
      await saveFile(job, status, await folder.getFileHandle(free, { create: true }));
    } else if (saveWay() !== "picker" || job.file.size <= BLOB_MAX) {
      await saveFile(job, status, saveWay() === "picker" ? "blob" : undefined);
    }
  }
}

/** Share: decrypted in memory (at most BLOB_MAX bytes, checked) and handed to the system's share sheet. */
export async function shareFile(job: Job, status: HTMLElement): Promise<void> {
  try {
    const { url, sealedSize } = await fresh(job);
    const blob = await new Response(await plainStream(job, url, sealedSize)).blob();
    job.onSaved();
    await navigator.share({ files: [new File([blob], saveName(job.file.name), { type: job.file.type || "application/octet-stream" })] });
  } catch (e) {
    if ((e as Error)?.name !== "AbortError") status.textContent = failure(e);
  }
}

async function viaPicker(handle: Awaited<ReturnType<Picker>>, plain: ReadableStream<Uint8Array>, size: number, status: HTMLElement): Promise<void> {
  const out = await handle.createWritable();
  try {
    // an error of the source aborts the writable: what was written is discarded, not kept
    await plain.pipeThrough(progress(size, status)).pipeTo(out);
  } catch (e) {
    await handle.remove?.().catch(() => {}); // the empty file the picker made goes too, where the browser can
    throw e;
  }
}

async function viaBlob(plain: ReadableStream<Uint8Array>, name: string, type: string): Promise<void> {
  // read whole (checked) before it is offered: a file that fails its check is never saved
  const blob = new Blob([await new Response(plain).blob()], { type: type || "application/octet-stream" });
  const url = URL.createObjectURL(blob);
  const a = K.h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function progress(size: number, status: HTMLElement): TransformStream<Uint8Array, Uint8Array> {
  let n = 0;
  let shown = -1;
  return new TransformStream({
    transform(chunk, c) {
      n += chunk.length;
      const p = size ? Math.floor((n / size) * 100) : 100;
      if (p !== shown) status.textContent = WORDS.saving((shown = p));
      c.enqueue(chunk);
    },
  });
}

/**
 * The service worker's way: the job goes to the worker over a MessageChannel (the link, the
 * seal's size and SHA-256, this device's id for its keys), then a hidden frame navigates to the
 * path only the worker answers; the worker reports progress and the outcome on the channel.
 */
async function viaWorker(job: Job, name: string, url: string, sealedSize: number, status: HTMLElement): Promise<void> {
  const sw = navigator.serviceWorker.controller;
  if (!sw) throw new Error(K.t("error.network"));
  const id = crypto.randomUUID();
  const channel = new MessageChannel();
  const spec: SaveJob = { id, url, name, size: job.file.size, sealedSize, sha256: job.file.sha256, terminalId: job.self };
  let frame: HTMLIFrameElement | null = null;
  const keepAlive = setInterval(() => sw.postMessage({ type: "pushdrop.keepalive" }), 10_000);
  try {
    await new Promise<void>((resolve, reject) => {
      let started = false;
      const timer = setTimeout(() => !started && reject(new Error(K.t("error.network"))), 15_000);
      channel.port1.onmessage = (e: MessageEvent<SaveReport>) => {
        const r = e.data;
        if (r.type === "ready") {
          frame = K.h("iframe", { hidden: true, title: name, src: `${SAVE_PATH}${id}/${encodeURIComponent(name)}` });
          document.body.append(frame);
        } else if (r.type === "progress") {
          started = true;
          status.textContent = WORDS.saving(job.file.size ? Math.floor((r.bytes / job.file.size) * 100) : 100);
        } else if (r.type === "done") {
          clearTimeout(timer);
          resolve();
        } else if (r.type === "failed") {
          clearTimeout(timer);
          reject(Object.assign(new Error(r.message), { code: r.code }));
        }
      };
      sw.postMessage({ type: "pushdrop.save", job: spec }, [channel.port2]);
    });
  } finally {
    clearInterval(keepAlive);
    channel.port1.close();
    // the frame stays a moment: removing it at once could cut a download the browser still finishes
    setTimeout(() => (frame as HTMLIFrameElement | null)?.remove(), 60_000);
  }
}
