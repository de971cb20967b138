import type { CreateTransferRequest } from "../contract";
import type { Defer } from "../package/jobs";
import { uploadPrefix } from "../store/keys";
import { deletePrefix } from "../store/objects";
import type { TerminalRow } from "../store/terminals";
import { deleteTransfer, getTransferRecord, type TransferRecord } from "../store/transfers";
import { createTransfer } from "./create";
import { receiveWholeFile } from "./upload";

/**
 * `PUT /v1/send/…`: create a one-file transfer and stream its bytes in the same request.
 * All or nothing: if the body fails (short, too long, dropped), the transfer is forgotten
 * and nothing of it is left in R2 or D1.
 */
export async function sendOneShot(
  env: Env,
  sender: TerminalRow,
  req: CreateTransferRequest,
  body: ReadableStream<Uint8Array> | null,
  size: number,
  now: number,
  defer: Defer,
): Promise<TransferRecord> {
  const rec = await createTransfer(env, sender, req, now, { oneRequest: true });
  try {
    await receiveWholeFile(env, { transfer: rec.transfer, file: rec.files[0]! }, body, size, now, defer);
  } catch (e) {
    await deletePrefix(env.BUCKET, uploadPrefix(rec.transfer.id)).catch(() => {});
    await deleteTransfer(env.DB, rec.transfer.id);
    throw e;
  }
  return (await getTransferRecord(env.DB, rec.transfer.id)) ?? rec;
}
