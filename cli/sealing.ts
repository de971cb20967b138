import { constants, createReadStream, lstatSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { ApiError, formatTerminalId, type PushdropClient } from "../client";
import { decideTrust, sealDocument, sealedSize, sealStream, SEAL_NAME, sealedFileName, type SealDraft } from "../client/seal";
import { SEALED_TYPE } from "../src/contract/seal";
import { stateDir } from "./config";
import type { Ctx } from "./context";
import { CliError, EXIT, integrityError, usageError } from "./exit";
import type { LocalFile } from "./files";
import { pinOf, savePin } from "./keys";

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
      return { id, pinned, published, d: decideTrust({ pinned: pinned ? { key: pinned.key, verified: pinned.verified } : null, published }) };
    }),
  );
  if (unknown.length > 0) return { unknown };
  for (const { id, pinned, published, d } of decisions) {
    if (d.kind === "bad_key") throw integrityError(`The server gives ${formatTerminalId(id)} a key that is not an age X25519 key; nothing was sent.`, "bad_key", { id });
    if (d.kind === "key_changed") {
      const since = pinned ? ` on ${pinned.pinnedAt.slice(0, 10)}` : "";
      const what =
        published === null
          ? `the server now says ${formatTerminalId(id)} has no key at all, where this computer pinned one${since}${d.reverify ? " and you verified it" : ""}. A terminal does not lose its key by itself`
          : `the key the server now gives for ${formatTerminalId(id)} is not the one this computer pinned${since}${d.reverify ? " and you verified" : ""}. Either ${formatTerminalId(id)} made a new key (a new device, \`pushdrop key rotate\`), or someone (whoever holds its token, or the server) swapped it in to read what you send`;
      const next =
        published === null
          ? `Ask ${formatTerminalId(id)} by another channel what happened; \`--plain\` sends in the clear (the server can read it).`
          : `Compare your safety number with ${formatTerminalId(id)} by another channel (in person, a call): \`pushdrop key verify ${id}\` prints it, \`pushdrop key verify ${id} <number>\` accepts the new key once they match. Or \`--plain\` sends in the clear (the server can read it).`;
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

/** Creates `file` (never through anything that is there) and writes the stream into it. */
async function writeNew(file: string, stream: ReadableStream<Uint8Array>): Promise<number> {
  const { O_WRONLY, O_CREAT, O_EXCL, O_NOFOLLOW } = constants;
  const fh = await open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  let at = 0;
  try {
    const reader = stream.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (let off = 0; off < value.length; ) {
        const { bytesWritten } = await fh.write(value, off, value.length - off, at);
        off += bytesWritten;
        at += bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
  return at;
}

export interface SpooledSend {
  draft: SealDraft;
  /** the spool's files, in transfer order: 1.age … n.age (seal.age is added once the transfer exists) */
  files: LocalFile[];
}

/** Seals each file into the spool while hashing it: the seal's draft (real names, sizes, SHA-256s) and the age files. */
export async function sealIntoSpool(
  spool: string,
  files: readonly LocalFile[],
  recipients: readonly string[],
  head: { from: string; to: string[]; message: string | null },
  onFile?: (k: number, name: string) => void,
): Promise<SpooledSend> {
  const draftFiles: SealDraft["files"] = [];
  const out: LocalFile[] = [];
  for (const [k, f] of files.entries()) {
    onFile?.(k, f.name);
    const plain = Readable.toWeb(createReadStream(f.path, { highWaterMark: 1 << 20 })) as unknown as ReadableStream<Uint8Array>;
    const sealed = await sealStream(plain, recipients);
    const target = path.join(spool, sealedFileName(k));
    const written = await writeNew(target, sealed.stream);
    const digest = await sealed.digest;
    if (digest.size !== f.size) throw usageError(`${f.path} changed while it was being sealed (${digest.size} bytes, ${f.size} before); send it again.`);
    if (written !== sealedSize(f.size, recipients.length)) throw new Error(`sealed ${f.name} into ${written} bytes, expected ${sealedSize(f.size, recipients.length)}`);
    draftFiles.push({ index: k, name: f.name, type: SEALED_TYPE, size: f.size, sha256: digest.sha256 });
    out.push(spoolFile(target));
  }
  return { draft: { ...head, files: draftFiles }, files: out };
}

/** Writes `seal.age` for the transfer into the spool (once: its bytes are what a resume sends). */
export async function writeSeal(spool: string, draft: SealDraft, transferId: string, recipients: readonly string[], size: number): Promise<LocalFile> {
  const bytes = await sealDocument(draft, transferId, recipients);
  if (bytes.length !== size) throw new Error(`seal.age came out ${bytes.length} bytes, ${size} declared`);
  const target = path.join(spool, SEAL_NAME);
  await writeNew(target, new Blob([bytes]).stream() as unknown as ReadableStream<Uint8Array>);
  return spoolFile(target);
}

/** A spool file as a file to upload; it must be a regular file (a link there is refused, not followed). */
export function spoolFile(p: string): LocalFile {
  const st = lstatSync(p);
  if (!st.isFile()) throw integrityError(`${p} in the send's spool is not a regular file; pushdrop never sends through a link. Cancel the transfer and send again.`, "unsafe_spool");
  return { path: p, name: path.basename(p), size: st.size, mtimeMs: st.mtimeMs };
}
