import { createWriteStream, mkdirSync, realpathSync } from "node:fs";
import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { pipeline } from "node:stream/promises";
import type { PushdropClient } from "../client";
import { openSeal, openStream, SEAL_NAME, SealError, sealedFileName, type SealDocument } from "../client/seal";
import type { Transfer } from "../src/contract";
import { MANIFEST_NAME } from "../src/contract/package";
import { integrityError } from "./exit";
import { Landing, type SavedFile } from "./temps";
import { entryStream, readManifest, safeSegments } from "./unpack";
import { readZipEntries, type ZipEntry } from "./zip";

/**
 * Opening a sealed transfer (issue 23): `seal.age` decrypted with this terminal's identities and
 * checked against the transfer it came with (client/seal checkSeal: its id, sender, recipients,
 * each file's index and size), then each age file streamed through the decrypter into a new
 * temporary file beside its place (never whole in memory), its plaintext size and SHA-256
 * checked against the seal as it streams; the real names go through the same safe-name rule
 * and folder checks as a plain package, and files land only when all of them check out.
 */

const web = (r: Readable) => Readable.toWeb(r) as unknown as ReadableStream<Uint8Array>;

/** Why the seal could not be opened, in words (age's own errors say "no identity matched" and the like). */
function cannotOpen(e: unknown): unknown {
  if (e instanceof SealError) return e;
  if (e instanceof Error && e.name === "AbortError") return e;
  const why = e instanceof Error ? e.message : String(e);
  return integrityError(
    `This sealed transfer cannot be opened with this computer's keys (${why}). It was sealed to a key this computer does not hold: another device's, or one replaced more than 7 days ago.`,
    "cannot_open",
  );
}

/** Decrypts and checks a seal from a stream (a file's response body, or a package entry). */
export async function readSeal(sealed: ReadableStream<Uint8Array>, identities: readonly string[], transfer: Transfer): Promise<SealDocument> {
  try {
    return await openSeal(sealed, identities, transfer);
  } catch (e) {
    throw cannotOpen(e);
  }
}

/** Fetches `seal.age` alone (a few KiB; it never counts toward receipts) and opens it. */
export async function fetchSeal(client: PushdropClient, transfer: Transfer, identities: readonly string[], signal?: AbortSignal): Promise<SealDocument> {
  const last = transfer.files[transfer.files.length - 1];
  if (!transfer.sealed || !last || last.name !== SEAL_NAME) throw integrityError(`Transfer ${transfer.id} is not a sealed transfer this client can read.`, "bad_seal");
  const res = await client.download(last.downloadUrl ?? client.filePath(transfer.id, last.index), { signal });
  if (!res.body) throw integrityError("The server sent no seal.", "bad_seal");
  return readSeal(res.body as ReadableStream<Uint8Array>, identities, transfer);
}

/** Opens a downloaded sealed package into `dir`; nothing lands unless every file checks out. */
export async function openSealedPackage(
  zipFile: string,
  dir: string,
  transfer: Transfer,
  identities: readonly string[],
): Promise<{ doc: SealDocument; saved: SavedFile[] }> {
  const entries = await readZipEntries(zipFile);
  await readManifest(zipFile, entries, transfer); // the package is the transfer's (names, sizes, checksums of the age files)
  const byName = new Map<string, ZipEntry>();
  for (const e of entries) {
    if (byName.has(e.name)) throw integrityError(`The package holds ${JSON.stringify(e.name)} twice.`, "bad_package");
    byName.set(e.name, e);
  }
  const listed = new Set(transfer.files.map((f) => f.name));
  for (const e of entries) {
    if (e.name !== MANIFEST_NAME && !listed.has(e.name)) throw integrityError(`The package holds ${JSON.stringify(e.name)}, which the transfer does not list.`, "bad_package");
  }
  const sealEntry = byName.get(SEAL_NAME);
  if (!sealEntry) throw integrityError(`The package has no ${SEAL_NAME}.`, "bad_package");
  const doc = await readSeal(web(entryStream(zipFile, sealEntry)), identities, transfer);

  // every real name checked before anything is written
  const plan = doc.files.map((f) => {
    const entry = byName.get(sealedFileName(f.index));
    if (!entry) throw integrityError(`The package lacks ${sealedFileName(f.index)}.`, "bad_package");
    return { f, entry, segments: safeSegments(f.name) };
  });
  const targets = new Set<string>();
  for (const p of plan) {
    const key = p.segments.join("/").normalize("NFC").toLowerCase();
    if (targets.has(key)) throw integrityError(`The seal names ${JSON.stringify(p.f.name)} twice.`, "bad_package");
    targets.add(key);
  }

  mkdirSync(dir, { recursive: true });
  const landing = new Landing(realpathSync(dir), transfer.id);
  try {
    for (const p of plan) {
      const tmp = landing.temp({ index: p.f.index, name: p.f.name, size: p.f.size, sha256: p.f.sha256 }, p.segments);
      let plain: ReadableStream<Uint8Array>;
      try {
        plain = await openStream(web(entryStream(zipFile, p.entry)), identities, { sealedSize: p.entry.size, size: p.f.size, sha256: p.f.sha256 });
      } catch (e) {
        throw cannotOpen(e);
      }
      // decrypted as it streams, checked at its end (size, SHA-256) before the stream closes
      await pipeline(Readable.fromWeb(plain as unknown as WebReadableStream<Uint8Array>), createWriteStream(tmp, { flags: "wx" }));
    }
    return { doc, saved: await landing.land() };
  } catch (e) {
    landing.rollback();
    throw e instanceof SealError ? integrityError(`${e.message}; nothing was kept.`, e.code) : e;
  }
}
