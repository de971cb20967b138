import { assertRecipientsAccept, rememberRecipients } from "../auth/acceptance";
import { newTransferId } from "../auth/ids";
import { assertInboxRoom, assertTransferRate, assertTransferSize } from "../limits/quotas";
import { DEFAULT_EXPIRES_IN, MAX_NAMES_BYTES, MAX_PACKAGE_BYTES, PART_SIZE } from "../config";
import { SEALED_TYPE, type CreateTransferRequest } from "../contract";
import { badRequest, notFound, tooLarge } from "../errors";
import { notifyReady } from "../notify/producers";
import { enqueuePackaging } from "../package/jobs";
import { safeNames } from "../package/names";
import { packageOverhead } from "../package/zip";
import { guessType } from "../package/mime";
import type { IdempotencyClaim } from "../store/idempotency";
import type { TerminalRow } from "../store/terminals";
import { getTransferRecord, insertTransfer, startPackaging, type NewFile, type TransferRecord } from "../store/transfers";
import { partSizeFor } from "./parts";

/**
 * Step 1 of the flow: a sender declares a transfer (recipients and files); the server
 * checks it, records it, and answers with where each file's bytes go.
 */
export async function createTransfer(
  env: Env,
  sender: TerminalRow,
  req: CreateTransferRequest,
  now: number,
  opts: { oneRequest?: boolean; idempotency?: IdempotencyClaim } = {},
): Promise<TransferRecord> {
  const naming = safeNames(req.files.map((f) => f.name));
  if (!naming.ok) {
    throw badRequest("invalid_file_name", `files[${naming.index}].name has no usable characters`, {
      index: naming.index,
    });
  }
  const nameBytes = naming.names.reduce((n, name) => n + new TextEncoder().encode(name).byteLength, 0);
  if (nameBytes > MAX_NAMES_BYTES) {
    throw tooLarge(
      "names_too_long",
      `The file names add up to ${nameBytes} bytes; a transfer's names may take ${MAX_NAMES_BYTES} bytes in all. Send fewer files, or zip folders first.`,
    );
  }
  // quotas (413 naming the limit, 429 with Retry-After), then the recipients: 404 for ids
  // nobody has, 403 when one refuses this sender, 413 when this sender's share of one is
  // used up or one has no room (src/limits/quotas.ts). Nothing
  // is recorded before every check has passed.
  assertTransferSize(env, req.files);
  await assertTransferRate(env, sender.id, now);
  const to = [...new Set(req.to)];
  const recipients = await assertRecipientsAccept(env.DB, sender, to, now);
  assertInboxRoom(env, recipients, req.files.reduce((s, f) => s + f.size, 0));

  if (req.files.length === 0) return createMessageOnly(env, sender, req, to, now, opts.idempotency);

  const files = req.files.map((f, i) => ({
    name: naming.names[i]!,
    size: f.size,
    // a sealed file's type is never guessed from its name (CreateTransferRequest allows none other)
    type: req.sealed ? SEALED_TYPE : (f.type ?? guessType(naming.names[i]!)),
    // `PUT /v1/send/...` streams one file in one request: its single part is the whole file
    part_size: opts.oneRequest ? Math.max(PART_SIZE, f.size) : partSizeFor(f.size),
    completed: f.size === 0,
  }));
  const total = files.reduce((s, f) => s + f.size, 0);
  const packageSize = total + packageOverhead(files.map((f) => f.name), req.message ?? "");
  if (packageSize > MAX_PACKAGE_BYTES) {
    throw tooLarge(
      "package_too_large",
      `The package would be ${packageSize} bytes; packages are limited to ${MAX_PACKAGE_BYTES} bytes (156.25 GiB).`,
    );
  }

  const rec = await record(env, sender, req, to, now, "uploading", files, opts.idempotency);
  // A transfer of empty files only has nothing to wait for.
  if (files.every((f) => f.completed) && (await startPackaging(env.DB, rec.transfer.id))) {
    await enqueuePackaging(env, rec.transfer.id);
    return (await getTransferRecord(env.DB, rec.transfer.id)) ?? rec;
  }
  return rec;
}

/**
 * A message without files (contract v1.1: `files: []`, a note, a link, a code to paste): there
 * is nothing to upload or package, so it is `ready` at once and its recipients are told now.
 * It is delivered when each recipient acknowledges its `transfer.ready` (see messageRead).
 */
async function createMessageOnly(
  env: Env,
  sender: TerminalRow,
  req: CreateTransferRequest,
  to: string[],
  now: number,
  idempotency?: IdempotencyClaim,
): Promise<TransferRecord> {
  const rec = await record(env, sender, req, to, now, "ready", [], idempotency);
  await notifyReady(env, rec, now);
  return (await getTransferRecord(env.DB, rec.transfer.id)) ?? rec;
}

/** Records a checked transfer (the sender's contacts grow by its recipients) and reads it back. */
async function record(
  env: Env,
  sender: TerminalRow,
  req: CreateTransferRequest,
  to: string[],
  now: number,
  status: "uploading" | "ready",
  files: NewFile[],
  idempotency?: IdempotencyClaim,
): Promise<TransferRecord> {
  const id = newTransferId();
  await insertTransfer(
    env.DB,
    {
      id,
      sender_id: sender.id,
      sender_name: sender.name,
      message: req.message ?? null,
      status,
      created_at: now,
      expires_at: now + (req.expiresIn ?? DEFAULT_EXPIRES_IN) * 1000,
      max_downloads: req.maxDownloads ?? null,
      total_size: files.reduce((n, f) => n + f.size, 0),
      sealed: req.sealed === true,
    },
    files,
    to,
    idempotency,
  );
  await rememberRecipients(env.DB, sender, to, now);
  const rec = await getTransferRecord(env.DB, id);
  if (!rec) throw notFound("transfer_not_found", "The transfer vanished while it was created.");
  return rec;
}
