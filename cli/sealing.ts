import { constants, createReadStream, lstatSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { ApiError, formatTerminalId, type PushdropClient } from "../client";
import { decideTrust, sealDocument, sealedFileSpecs, sealStream, SEAL_NAME, sealedFileName, type SealDraft } from "../client/seal";
import { guessType } from "../src/package/mime";
import { stateDir } from "./config";
import type { Ctx } from "./context";
import { CliError, EXIT, integrityError, usageError } from "./exit";
import type { LocalFile } from "./files";
import { pinOf, refusedOf, savePin } from "./keys";
import { writeStreamTo } from "./download";

/**
 * Sealed sends (issue 23): whose keys to seal to, and the private spool.
 *
 * Each file is encrypted once, while it is hashed, into a spool folder of its own under
 * `$XDG_STATE_HOME/pushdrop/sends/` (mode 0700, made by mkdtemp; every file in it created with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600). The parts go up from the spool, so a resumed send sends
 * the very bytes it began with: `age-encryption` picks each file's key and nonce itself, and
 * nothing is ever encrypted again under a stored key and nonce. The spool is removed when every
 * byte is in, or the transfer is cancelled or gone.
 */

/** Where the spools live (beside the records of unfinished sends). */
const spoolRoot = (env = process.env) => path.join(stateDir(env), "sends");

/**
 * The recipients' keys to seal to, in the order of `to`, or null when a recipient publishes no
 * key and was never pinned (such a transfer goes in the clear, and the user is told). A key that
 * is not the one pinned (or none where one was pinned) stops the send: it is a key change.
 */
export async function sealingKeys(ctx: Ctx, client: PushdropClient, to: readonly string[]): Promise<{ keys: string[] } | { plainBecause: string[] } | { unknown: string[] }> {
  const unknown: string[] = [];
  const decisions = await Promise.all(
    to.map(async (id) => {
      let published: string | null;
      try {
        published = (await client.lookup(id)).key;
      } catch (e) {
        if (!(e instanceof ApiError && e.status === 404)) throw e;
        unknown.push(id); // the server refuses the transfer itself, naming every unknown id
        published = null;
      }
      const pinned = pinOf(ctx, id);
      const refused = refusedOf(ctx, id) ?? null;
      return { id, pinned, published, d: decideTrust({ pinned: pinned ? { key: pinned.key, verified: pinned.verified } : null, published, refused }) };
    }),
  );
  if (unknown.length > 0) return { unknown };
  for (const { id, pinned, published, d } of decisions) {
    if (d.kind === "bad_key") throw integrityError(`The server gives ${formatTerminalId(id)} a key that is not an age X25519 key; nothing was sent.`, "bad_key", { id });
    if (d.kind === "link_refused") {
      // a share link for it carried another key than the server publishes (refused then, kept):
      // the server's key is not trusted on first use
      const who = formatTerminalId(id);
      throw new CliError(
        [
          `Nothing was sent: a share link for ${who} carried another key than the one the server publishes for it, so this computer does not trust the server's key on first use.`,
          `Compare your safety number with ${who} by another channel: \`pushdrop key verify ${id}\` prints it, \`pushdrop key verify ${id} <number>\` pins the key once they match. Or a link from ${who} with the key the server publishes pins it, or \`--plain\` sends in the clear (the server can read it).`,
        ].join("\n"),
        EXIT.integrity,
        "link_refused",
        { id, link: d.link, published },
      );
    }
    if (d.kind === "key_changed") {
      const since = pinned ? ` on ${pinned.pinnedAt.slice(0, 10)}` : "";
      const what =
        published === null
          ? `the server now says ${formatTerminalId(id)} has no key at all, where this computer pinned one${since}${d.reverify ? " and you verified it" : ""}. A terminal does not lose its key by itself`
          : `the key the server now gives for ${formatTerminalId(id)} is not the one this computer pinned${since}${d.reverify ? " and you verified" : ""}. Either ${formatTerminalId(id)} made a new key (a new device, \`pushdrop key rotate\`), or someone (whoever holds its token, or the server) swapped it in to read what you send`;
      const next =
        published === null
          ? `Ask ${formatTerminalId(id)} by another channel what happened; \`--plain\` sends in the clear (the server can read it).`
          : `Compare your safety number with ${formatTerminalId(id)} by another channel (in person, a call): \`pushdrop key verify ${id}\` prints it, \`pushdrop key verify ${id} <number>\` accepts the new key once they match${d.reverify ? "" : ` (or, without comparing, \`pushdrop key accept ${id}\`)`}. Or \`--plain\` sends in the clear (the server can read it).`;
      throw new CliError(`Nothing was sent: ${what}.\n${next}`, EXIT.integrity, "key_changed", { id, pinned: pinned?.key ?? null, published });
    }
  }
  const keyless = decisions.filter((x) => x.d.kind === "no_key").map((x) => x.id);
  if (keyless.length > 0) return { plainBecause: keyless };
  for (const { id, d } of decisions) if (d.kind === "seal") savePin(ctx, id, d.pin); // pinned on first use
  return { keys: decisions.map((x) => (x.d as { pin: { key: string } }).pin.key) };
}

/** A new, private spool folder for one send. */
export function makeSpool(env = process.env): string {
  mkdirSync(spoolRoot(env), { recursive: true, mode: 0o700 });
  return mkdtempSync(path.join(spoolRoot(env), "spool-"));
}

/** Whether `p` is a spool folder this module made (what a record names is checked before it is removed). */
export function isSpool(p: unknown, env = process.env): p is string {
  return typeof p === "string" && path.dirname(p) === spoolRoot(env) && /^spool-[A-Za-z0-9]{6}$/.test(path.basename(p));
}

export function removeSpool(p: unknown, env = process.env): void {
  if (isSpool(p, env)) rmSync(p, { recursive: true, force: true });
}

/**
 * Creates `file` (never through anything that is there) and writes the stream into it, in writes
 * of about 1 MiB, telling `onBytes` how many bytes are in it after each.
 */
async function writeNew(file: string, stream: ReadableStream<Uint8Array>, onBytes?: (written: number) => void): Promise<number> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  const fh = await open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    return await writeStreamTo(fh, stream, onBytes);
  } finally {
    await fh.close();
  }
}

/**
 * A draft whose files are not sealed yet: their SHA-256s are "" until they are. Each file's type
 * is the one the server would give it by its name when plain (src/package/mime.ts), so that a
 * recipient (and its notification: "2 photos") knows what it is; only the seal says it.
 */
export function unsealedDraft(files: readonly LocalFile[], head: { from: string; to: string[]; message: string | null }): SealDraft {
  return { ...head, files: files.map((f, k) => ({ index: k, name: f.name, type: guessType(f.name), size: f.size, sha256: "" })) };
}

/** The transfer's files for a draft (its sizes need only the SHA-256s' length: placeholders do). */
export const specsOf = (draft: SealDraft, recipients: number) =>
  sealedFileSpecs({ ...draft, files: draft.files.map((f) => ({ ...f, sha256: f.sha256 || "0".repeat(64) })) }, recipients);

/** What a sealed send's record keeps of its spool (cli/sends.ts). */
export interface SpoolState {
  spool: string;
  /** real names and sizes; a file's sha256 is "" until it is sealed whole into the spool */
  draft: SealDraft;
  recipients: string[];
  /** the files being sealed (their paths, sizes and times: a resume checks them) */
  sources?: LocalFile[];
  /** seal.age is written whole */
  sealDone?: boolean;
}

/**
 * A sealed send's spool, written while the parts go up: each file sealed in turn (encrypted once,
 * while it is hashed) into `k.age`, then `seal.age` (the transfer id is known: the transfer was
 * created first, with the sizes sealing will give). `ready(index, end)` says when a part's bytes
 * are in the spool. A file's last bytes count as there only once the send's record says it is
 * sealed (`onState`), so the server can never hold a whole file that the record does not know
 * was sealed whole; a resume seals again (under a new key) only a file that was cut while being
 * sealed, and sends all of its parts again (the server replaces a part sent again).
 */
export class SpoolWriter {
  private readonly written: number[];
  private readonly done: boolean[];
  private readonly waiters: Array<{ index: number; end: number; resolve: () => void; reject: (e: unknown) => void }> = [];
  private failed: { e: unknown } | null = null;
  private readonly state: SpoolState;

  constructor(
    state: SpoolState,
    private readonly sources: readonly LocalFile[],
    private readonly transferId: string,
    /** the sizes declared (1.age … n.age, seal.age) */
    private readonly sizes: readonly number[],
    private readonly onState: (s: SpoolState) => void,
  ) {
    this.state = { ...state, draft: { ...state.draft, files: state.draft.files.map((f) => ({ ...f })) } };
    const n = this.state.draft.files.length;
    this.done = sizes.map((size, k) => {
      const whole = k < n ? this.state.draft.files[k]!.sha256 !== "" : this.state.sealDone === true;
      if (whole && spoolFile(this.pathOf(k)).size !== size) throw integrityError(`${this.pathOf(k)} in the send's spool is not the size it was sealed to; cancel the transfer and send again.`, "unsafe_spool");
      return whole;
    });
    this.written = sizes.map((size, k) => (this.done[k] ? size : 0));
  }

  /** Files (by transfer index) this run seals: none of their bytes on the server can be kept. */
  get unsealed(): number[] {
    return this.done.flatMap((d, k) => (d ? [] : [k]));
  }

  pathOf = (k: number) => path.join(this.state.spool, k < this.state.draft.files.length ? sealedFileName(k) : SEAL_NAME);

  ready(index: number, end: number): Promise<void> {
    if (this.failed) return Promise.reject(this.failed.e);
    if (this.has(index, end)) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ index, end, resolve, reject }));
  }

  private has = (index: number, end: number) => this.done[index] || (end < this.sizes[index]! && this.written[index]! >= end);

  private wake(): void {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (this.has(w.index, w.end)) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }

  /** Seals what is not sealed yet, in order, then seal.age; resolves with the whole draft. */
  async run(recipients: readonly string[], onFile?: (k: number, name: string) => void): Promise<SealDraft> {
    try {
      const files = this.state.draft.files;
      for (const [k, f] of files.entries()) {
        if (this.done[k]) continue;
        const src = this.sources[k]!;
        onFile?.(k, f.name);
        const target = this.pathOf(k);
        rmSync(target, { force: true }); // cut while being sealed: sealed again, under a new key (a link is removed, not followed)
        const plain = Readable.toWeb(createReadStream(src.path, { highWaterMark: 1 << 20 })) as unknown as ReadableStream<Uint8Array>;
        const sealed = await sealStream(plain, recipients);
        const written = await writeNew(target, sealed.stream, (at) => {
          if (this.stopped) throw new Error("the send stopped");
          this.written[k] = at;
          this.wake();
        });
        const digest = await sealed.digest;
        if (digest.size !== src.size) throw usageError(`${src.path} changed while it was being sealed (${digest.size} bytes, ${src.size} before); send it again.`);
        if (written !== this.sizes[k]) throw new Error(`sealed ${f.name} into ${written} bytes, expected ${this.sizes[k]}`);
        f.sha256 = digest.sha256;
        this.onState(this.state); // (before its last bytes count as there: see above)
        this.done[k] = true;
        this.wake();
      }
      const n = files.length;
      if (!this.done[n]) {
        const target = this.pathOf(n);
        rmSync(target, { force: true });
        const bytes = await sealDocument(this.state.draft, this.transferId, recipients);
        if (bytes.length !== this.sizes[n]) throw new Error(`seal.age came out ${bytes.length} bytes, ${this.sizes[n]} declared`);
        await writeNew(target, new Blob([bytes]).stream() as unknown as ReadableStream<Uint8Array>);
        this.state.sealDone = true;
        this.onState(this.state);
        this.done[n] = true;
        this.wake();
      }
      return this.state.draft;
    } catch (e) {
      this.failed = { e };
      for (const w of this.waiters.splice(0)) w.reject(e);
      throw e;
    }
  }

  private stopped = false;

  /** Stops sealing (the upload failed or was cancelled): what is cut is sealed again by a resume. */
  stop(): void {
    this.stopped = true;
  }

  /** The spool's files, to upload (read as ranges: a file still being written has no fixed size or time). */
  blobs(): Blob[] {
    return this.sizes.map((size, k) => spoolRange(this.pathOf(k), 0, size));
  }
}

/**
 * A range of a spool file as the upload reads it (size, slice, stream: what client/upload.ts and
 * cli/http.ts use of a Blob), opened when it is read, so a file still being written can be sent
 * part by part (fs.openAsBlob refuses to read a file that changed after it was opened). Read 1 MiB
 * at a time on demand (not Readable.toWeb: a part cancelled by a retry could then still be given
 * a chunk after its stream closed, which throws outside any caller).
 */
function spoolRange(file: string, start: number, end: number): Blob {
  const range = {
    size: end - start,
    type: "",
    slice: (a = 0, b = end - start) => spoolRange(file, start + a, start + Math.min(b, end - start)),
    stream: () => {
      let fh: FileHandle | null = null;
      let at = start;
      const done = async () => {
        const f = fh;
        fh = null;
        await f?.close().catch(() => undefined);
      };
      return new ReadableStream<Uint8Array>(
        {
          async pull(c) {
            if (at >= end) {
              await done();
              return c.close();
            }
            fh ??= await open(file, constants.O_RDONLY | constants.O_NOFOLLOW);
            const buf = Buffer.allocUnsafe(Math.min(1 << 20, end - at));
            const { bytesRead } = await fh.read(buf, 0, buf.length, at);
            if (bytesRead === 0) throw new Error(`${file} in the send's spool ends at ${at}, before ${end}`);
            at += bytesRead;
            c.enqueue(buf.subarray(0, bytesRead));
          },
          cancel: done,
        },
        { highWaterMark: 0 },
      );
    },
  };
  return range as unknown as Blob;
}

/** A spool file as a file to upload; it must be a regular file (a link there is refused, not followed). */
export function spoolFile(p: string): LocalFile {
  const st = lstatSync(p);
  if (!st.isFile()) throw integrityError(`${p} in the send's spool is not a regular file; pushdrop never sends through a link. Cancel the transfer and send again.`, "unsafe_spool");
  return { path: p, name: path.basename(p), size: st.size, mtimeMs: st.mtimeMs };
}
