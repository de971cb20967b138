/**
 * The sealed send's spool (issue 23, "Resume stays possible"): each file is sealed ONCE, while
 * it is hashed, into the Origin Private File System (navigator.storage.getDirectory(): private
 * to this site, never shown to the person), one folder per send; the parts go up from those
 * files, so a resume (the same files chosen again, or a reload) sends the very bytes it began
 * with and nothing is encrypted again. The folder is deleted when every byte is in, or the
 * transfer is cancelled or gone. Where the browser has no OPFS (or cannot write it from a page),
 * a send seals into memory instead, for small files only (MEMORY_LIMIT), and a reload restarts it.
 * This module imports nothing of the shell, and is a lazy chunk.
 */
const ROOT = "pushdrop-spool";
/** The most a send seals into memory where there is no spool. */
export const MEMORY_LIMIT = 64 * 1024 * 1024;

type Dir = FileSystemDirectoryHandle;

export function hasSpool(): boolean {
  return typeof navigator.storage?.getDirectory === "function" && typeof FileSystemFileHandle !== "undefined" && "createWritable" in FileSystemFileHandle.prototype;
}

async function root(create: boolean): Promise<Dir> {
  return (await navigator.storage.getDirectory()).getDirectoryHandle(ROOT, { create });
}

/** A new, empty spool folder: its name (what a sent record keeps) and handle. */
export async function makeSpool(): Promise<{ name: string; dir: Dir }> {
  const name = `s${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  return { name, dir: await (await root(true)).getDirectoryHandle(name, { create: true }) };
}

/** Writes a stream into a new file of the spool; resolves with the bytes written. */
export async function writeSpoolFile(dir: Dir, name: string, stream: ReadableStream<Uint8Array>): Promise<number> {
  const handle = await dir.getFileHandle(name, { create: true });
  const out = await handle.createWritable({ keepExistingData: false });
  let n = 0;
  // age gives 64 KiB chunks; each write to the spool is a round trip to the browser's storage,
  // so they go in 1 MiB batches
  let batch: Uint8Array[] = [];
  let size = 0;
  const flush = (c: TransformStreamDefaultController<Blob>) => {
    if (size) c.enqueue(new Blob(batch as Uint8Array<ArrayBuffer>[]));
    batch = [];
    size = 0;
  };
  const batched = stream.pipeThrough(
    new TransformStream<Uint8Array, Blob>({
      transform(chunk, c) {
        n += chunk.length;
        batch.push(chunk);
        size += chunk.length;
        if (size >= 1 << 20) flush(c);
      },
      flush,
    }),
  );
  await batched.pipeTo(out as unknown as WritableStream<Blob>);
  return n;
}

/** The spool's files by name, as Files to upload from; null when the spool (or one of them) is gone. */
export async function spoolFiles(spool: string, names: readonly string[]): Promise<File[] | null> {
  try {
    const dir = await (await root(false)).getDirectoryHandle(spool);
    return await Promise.all(names.map(async (n) => (await dir.getFileHandle(n)).getFile()));
  } catch {
    return null;
  }
}

/** A spool folder that is still here, by name; null when it is gone. */
export async function openSpool(spool: string): Promise<Dir | null> {
  try {
    return await (await root(false)).getDirectoryHandle(spool);
  } catch {
    return null;
  }
}

/** Deletes a spool folder (nothing happens when it is gone already). */
export async function dropSpool(spool: string): Promise<void> {
  try {
    await (await root(false)).removeEntry(spool, { recursive: true });
  } catch {
    // gone already, or no OPFS
  }
}

/** When a spool was made (its name says), ms; 0 when the name is not one of ours. */
const madeAt = (name: string) => (/^s[0-9a-z]{8,9}[0-9a-z]/.test(name) ? parseInt(name.slice(1, 9), 36) : 0);

/**
 * Deletes every spool folder that no sent record names and that is over an hour old (a page
 * closed while sealing; a send still sealing in another tab is younger and stays).
 */
export async function sweepSpools(keep: ReadonlySet<string | undefined>): Promise<void> {
  if (!hasSpool()) return;
  try {
    const dir = await root(false);
    const names: string[] = [];
    for await (const name of (dir as unknown as { keys(): AsyncIterable<string> }).keys()) names.push(name);
    for (const name of names) if (!keep.has(name) && Date.now() - madeAt(name) > 3_600_000) await dir.removeEntry(name, { recursive: true }).catch(() => {});
  } catch {
    // no spool folder yet
  }
}
