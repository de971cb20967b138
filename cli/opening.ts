import type { PushdropClient } from "../client";
import { openSeal, SEAL_NAME, SealError, type SealDocument } from "../client/seal";
import type { Transfer } from "../src/contract";
import { integrityError } from "./exit";

/**
 * Opening a sealed transfer's seal (issue 23): `seal.age` decrypted with this terminal's
 * identities and checked against the transfer it came with (client/seal checkSeal: its id,
 * sender, recipients, each file's index and size). The files themselves are opened as the
 * package streams in (cli/onepass.ts), or one by one (`get --file`, cli/receive.ts).
 */

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

/** Fetches `seal.age` alone (a few KiB; it never counts toward receipts) and opens it. */
export async function fetchSeal(client: PushdropClient, transfer: Transfer, identities: readonly string[], signal?: AbortSignal): Promise<SealDocument> {
  const last = transfer.files[transfer.files.length - 1];
  if (!transfer.sealed || !last || last.name !== SEAL_NAME) throw integrityError(`Transfer ${transfer.id} is not a sealed transfer this client can read.`, "bad_seal");
  const res = await client.download(last.downloadUrl ?? client.filePath(transfer.id, last.index), { signal });
  if (!res.body) throw integrityError("The server sent no seal.", "bad_seal");
  try {
    return await openSeal(res.body as ReadableStream<Uint8Array>, identities, transfer);
  } catch (e) {
    throw cannotOpen(e);
  }
}
