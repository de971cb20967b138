import { sealDocument, sealedFileSpecs, sealedSize, sealStream, SEAL_NAME, SEALED_TYPE, sealedFileName, type SealDraft } from "../../client/seal";
import type { Kit } from "../kit";
import type { Outbox } from "../outbox";
import type { SentRecord, WaitingRecord } from "../store";
import { changedWhileSealing, sealFileToSpool, workerFailed } from "./seal-file";
import { dropSpool, hasSpool, makeSpool, MEMORY_LIMIT, openSpool, spoolFiles, writeSpoolFile } from "./spool";
import { keysFor, pinnedKeys, recheck } from "./trust";

/**
 * A sealed send from the Send form (issue 23), as the CLI makes one (cli/sealing.ts,
 * cli/commands/send.ts): the recipients' pinned keys (trust.ts; nothing is sealed past a key
 * change or to a recipient without a key), each file sealed once as a stream while it is
 * hashed, into the spool (spool.ts: the Origin Private File System; in memory, for small files,
 * where there is none), the transfer created with the exact sealed sizes (1.age … n.age, then
 * seal.age, sealed: true, no message), then seal.age (real names, types, sizes, SHA-256s and
 * the message, bound to the transfer's id) sealed once the id is known; the parts go up from the
 * spool through the outbox. The same files chosen again while the transfer is unfinished resume
 * it from its spool: nothing is encrypted twice.
 */

export interface SealedPlan {
  to: Array<{ id: string; name: string }>;
  files: File[];
  message: string | undefined;
  expiresIn?: number;
  maxDownloads?: number;
}

const validType = (t: string) => (/^[\w.+-]+\/[\w.+-]+$/.test(t) ? t : SEALED_TYPE);

/** Says why nothing was sent, under the form. */
function refuse(kit: Kit, words: string): null {
  const box = kit.$("send-error");
  box.textContent = words;
  kit.show(box, true);
  return null;
}

/** Sends `plan` sealed: "sent" (a new transfer), "resumed" (an unfinished one from its spool), "waiting" (sealed now, created once the server answers), or null (refused, said under the form). */
export async function sendSealed(kit: Kit, outbox: Outbox, plan: SealedPlan): Promise<"sent" | "resumed" | "waiting" | null> {
  // every failure is said here: none may reach the plain send's "wait for the connection" path
  try {
    return await seal(kit, outbox, plan);
  } catch (e) {
    return refuse(kit, kit.plainError(e));
  }
}

/** What sealing the files made: each file's seal.age entry, and where the sealed bytes are. */
interface Sealed {
  files: SealDraft["files"];
  spool: { name: string; dir: FileSystemDirectoryHandle } | null;
  memory: Blob[];
}

async function seal(kit: Kit, outbox: Outbox, plan: SealedPlan): Promise<"sent" | "resumed" | "waiting" | null> {
  const ids = plan.to.map((w) => w.id);
  // (names the form could not look up: as remembered, so a send made offline never forgets one)
  const contacts = kit.store.loadContacts();
  for (const w of plan.to) w.name ||= contacts.find((c) => c.id === w.id)?.name ?? "";
  // without a connection (or with the server away), the keys pinned on this device: the files
  // are sealed now and the send waits, like a plain one; it never goes in the clear
  let offline = false;
  const trust = await keysFor(kit, ids).catch((e: unknown) => {
    if (!kit.waitable(e)) throw e;
    offline = true;
    return pinnedKeys(kit, plan.to);
  });
  if ("refused" in trust) return refuse(kit, trust.refused);
  const keys = trust.keys;
  // (the names the server gives, where the form had none: the card and the contacts show them)
  trust.names?.forEach((n, i) => (plan.to[i]!.name ||= n ?? ""));
  const again = offline ? null : await unfinished(kit, plan);
  if (again) {
    outbox.resume(again.record, again.files);
    return "resumed";
  }
  const total = plan.files.reduce((s, f) => s + f.size, 0);
  const spooled = hasSpool();
  if (!spooled && total > MEMORY_LIMIT) return refuse(kit, kit.t("seal.noSpoolTooBig", { size: kit.size(MEMORY_LIMIT) }));

  const sealed: Sealed = { files: [], spool: spooled ? await makeSpool() : null, memory: [] };
  const drop = () => void (sealed.spool && dropSpool(sealed.spool.name));
  let kept = false;
  try {
    const changed = await sealFiles(kit, plan, keys, sealed);
    if (changed) return refuse(kit, changed);
    // one Idempotency-Key for every try of this create (a lost answer never makes a second transfer)
    const once = crypto.randomUUID();
    const wait = () => {
      waitFor(kit, outbox, plan, keys, sealed, once);
      kept = true;
      return "waiting" as const;
    };
    if (offline) return wait();
    try {
      const got = await create(kit, plan, keys, sealed, once);
      kept = true;
      outbox.start(got.record, got.transfer, got.sources);
      return "sent";
    } catch (e) {
      if (kit.waitable(e)) return wait();
      throw e;
    }
  } finally {
    if (!kept) drop();
  }
}

/**
 * Puts a sealed send in the outbox to wait for the connection: once the server answers, the keys
 * it publishes must still be the ones the files were sealed to (else nothing is made, the card
 * says why, the spool goes); then it is created (`once` on every try) and uploaded from the spool.
 * With a spool, the waiting record keeps what a reload needs to wait again (waitAgain).
 */
function waitFor(kit: Kit, outbox: Outbox, plan: SealedPlan, keys: string[], sealed: Sealed, once: string): void {
  const spool = sealed.spool?.name ?? null;
  const { expiresIn, maxDownloads } = plan;
  outbox.wait({ to: plan.to.map((w) => w.id), files: [], message: plan.message }, plan.to, plan.files, once, {
    make: async (key) => {
      const changed = await recheck(kit, plan.to.map((w) => w.id), keys);
      if (changed) throw { words: changed };
      return create(kit, plan, keys, sealed, key);
    },
    drop: () => void (spool && dropSpool(spool)),
    sealed: { spool, again: spool ? { once, keys, files: sealed.files, expiresIn, maxDownloads } : undefined },
  });
}

/** A sealed send that was waiting when the page closed: it waits again from its spool; false when the spool (or a file of it) is gone. */
export async function waitAgain(kit: Kit, outbox: Outbox, w: WaitingRecord): Promise<boolean> {
  const again = w.sealed?.again;
  const name = w.sealed?.spool;
  const dir = name && again && (await openSpool(name));
  if (!dir || !again || !(await spoolFiles(name, again.files.map((f) => sealedFileName(f.index))))) return false;
  kit.store.dropWaiting(w.key);
  const plan: SealedPlan = { to: w.to, files: w.files as File[], message: w.message ?? undefined, expiresIn: again.expiresIn, maxDownloads: again.maxDownloads };
  waitFor(kit, outbox, plan, again.keys, { files: again.files, spool: { name, dir }, memory: [] }, again.once);
  return true;
}

/**
 * Seals each file once into the spool (seal-file.ts: age and the SHA-256 in two workers at once,
 * off the page's thread; on the page when the workers cannot start) or, without OPFS, in memory
 * on the page (sealStream, hashed as it goes),
 * with a bar under the form; the words that say why not when a file changed meanwhile.
 */
async function sealFiles(kit: Kit, plan: SealedPlan, keys: string[], sealed: Sealed): Promise<string | null> {
  const total = plan.files.reduce((s, f) => s + f.size, 0);
  const progress = progressView(kit, total);
  try {
    let before = 0;
    for (const [k, f] of plan.files.entries()) {
      progress.file(f.name, before);
      let written: number;
      let digest: { sha256: string; size: number };
      const onPage = (sink: (sealedStream: ReadableStream<Uint8Array>) => Promise<number>) => sealOnPage(f, keys, progress, sink);
      if (sealed.spool) {
        const dir = sealed.spool.dir;
        // off the page's thread: age in one worker, the SHA-256 in another (seal-file.ts)
        let shown = 0;
        try {
          ({ written, digest } = await sealFileToSpool(f, keys, dir, sealedFileName(k), (bytes) => {
            progress.add(bytes - shown);
            shown = bytes;
          }));
        } catch (e) {
          if (changedWhileSealing(e)) return kit.t("seal.changedWhileSealing", { name: kit.bidi(f.name) });
          if (!workerFailed(e)) throw e;
          // the workers could not start (offline, their scripts never loaded): on the page, as before them
          progress.file(f.name, before);
          ({ written, digest } = await onPage((out) => writeSpoolFile(dir, sealedFileName(k), out)));
        }
      } else {
        ({ written, digest } = await onPage(async (out) => {
          const blob = await new Response(out).blob();
          sealed.memory.push(blob);
          return blob.size;
        }));
      }
      if (digest.size !== f.size || written !== sealedSize(f.size, keys.length)) return kit.t("seal.changedWhileSealing", { name: kit.bidi(f.name) });
      sealed.files.push({ index: k, name: f.name, type: validType(f.type), size: f.size, sha256: digest.sha256 });
      before += f.size;
    }
    return null;
  } finally {
    progress.done();
  }
}

/** Seals `f` on the page's thread (sealStream: age and the SHA-256 in series), its age file into `sink`, counting its bytes on the bar. */
async function sealOnPage(f: File, keys: string[], progress: { add(n: number): void }, sink: (sealedStream: ReadableStream<Uint8Array>) => Promise<number>) {
  const counted = f.stream().pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, c) {
        progress.add(chunk.length);
        c.enqueue(chunk);
      },
    }),
  );
  const out = await sealStream(counted, keys);
  const written = await sink(out.stream);
  return { written, digest: await out.digest };
}

/**
 * Creates the sealed transfer (the exact sealed sizes, `once` as its Idempotency-Key), seals
 * seal.age with its id, and gives what the outbox uploads from: the spool's files, or memory.
 */
async function create(kit: Kit, plan: SealedPlan, keys: string[], sealed: Sealed, once: string) {
  const ids = plan.to.map((w) => w.id);
  const draft: SealDraft = { from: kit.app.device!.id, to: ids, message: plan.message ?? null, files: sealed.files };
  const specs = sealedFileSpecs(draft, keys.length);
  const transfer = await kit.app.client.createTransfer(
    {
      to: ids,
      files: specs,
      sealed: true,
      ...(plan.expiresIn ? { expiresIn: plan.expiresIn } : {}),
      ...(plan.maxDownloads ? { maxDownloads: plan.maxDownloads } : {}),
    },
    { idempotencyKey: once },
  );
  const seal = await sealDocument(draft, transfer.id, keys);
  if (seal.length !== specs[specs.length - 1]!.size) throw new Error(`seal.age came out ${seal.length} bytes, ${specs[specs.length - 1]!.size} declared`);
  const doc = new Blob([seal as Uint8Array<ArrayBuffer>]);
  let sources: Blob[];
  if (sealed.spool) {
    await writeSpoolFile(sealed.spool.dir, SEAL_NAME, doc.stream());
    const got = await spoolFiles(sealed.spool.name, specs.map((s) => s.name));
    if (!got) throw new Error("the spool is gone");
    sources = got;
  } else sources = [...sealed.memory, doc];
  const record: SentRecord = {
    id: transfer.id,
    at: transfer.createdAt,
    to: plan.to,
    files: plan.files.map((f) => ({ name: f.name, size: f.size, lastModified: f.lastModified })),
    message: plan.message ?? null,
    sealed: { spool: sealed.spool?.name ?? null },
  };
  return { transfer, record, sources: sources as File[] };
}

/** An unfinished sealed transfer of these very files, to these recipients, with this message, whose spool is still here. */
async function unfinished(kit: Kit, plan: SealedPlan): Promise<{ record: SentRecord; files: File[] } | null> {
  const same = (r: SentRecord) =>
    !!r.sealed?.spool &&
    r.message === (plan.message ?? null) &&
    r.to.length === plan.to.length &&
    r.to.every((x) => plan.to.some((w) => w.id === x.id)) &&
    r.files.length === plan.files.length &&
    r.files.every((f, i) => f.name === plan.files[i]!.name && f.size === plan.files[i]!.size && f.lastModified === plan.files[i]!.lastModified);
  for (const r of kit.store.loadSent().filter(same)) {
    try {
      const tr = await kit.app.client.transfer(r.id);
      if (tr.status !== "uploading") continue;
      const files = await spoolFiles(r.sealed!.spool!, tr.files.map((f) => f.name));
      if (files && files.every((f, i) => f.size === tr.files[i]!.size)) return { record: r, files };
    } catch {
      // gone: not this one
    }
  }
  return null;
}

/** "Sealing photo.jpg… 40 %": a bar and a line under the form while the files are sealed. */
function progressView(kit: Kit, total: number) {
  const box = kit.$("seal-progress");
  const text = kit.$("seal-progress-text");
  const bar = kit.$<HTMLProgressElement>("seal-progress-bar");
  let done = 0;
  let name = "";
  let frame = 0;
  const draw = () => {
    frame = 0;
    bar.max = Math.max(1, total);
    bar.value = done;
    text.textContent = kit.t("seal.sealing", { name: kit.bidi(name), percent: total ? Math.floor((done / total) * 100) / 100 : 1 });
  };
  if (total > 0) kit.show(box, true);
  return {
    file(n: string, before: number) {
      name = n;
      done = before;
      draw();
    },
    add(n: number) {
      done += n;
      frame ||= requestAnimationFrame(draw);
    },
    done() {
      cancelAnimationFrame(frame);
      kit.show(box, false);
    },
  };
}
