import { IDEMPOTENCY_MS } from "../config";
import { IDEMPOTENCY_HEADER, type CreateTransferRequest } from "../contract";
import { sha256Hex } from "../auth/tokens";
import { ApiError } from "../errors";
import { findIdempotent, isClaimTaken, type IdempotencyClaim } from "../store/idempotency";
import type { TerminalRow } from "../store/terminals";
import { getTransferRecord, type TransferRecord } from "../store/transfers";
import { createTransfer } from "./create";

/**
 * `POST /v1/transfers` with an `Idempotency-Key` (v1.2): a client that sends the request again
 * (the web app retries it after being offline, not knowing whether the first one arrived) gets
 * the transfer the first one created, as it is now, instead of a second one. A key is the
 * sender's own and lives IDEMPOTENCY_MS; used again with another request it is 422
 * `idempotency_key_reused`. Two requests with one key at once create one transfer: the key is
 * recorded in the transaction that records the transfer (store/idempotency.ts).
 */

/** What a create answers with: the transfer, and whether this request created it (201) or an earlier one with the key did (200). */
export interface Created {
  rec: TransferRecord;
  created: boolean;
}

export async function createTransferOnce(env: Env, sender: TerminalRow, req: CreateTransferRequest, key: string | null, now: number): Promise<Created> {
  if (key === null) return { rec: await createTransfer(env, sender, req, now), created: true };
  // the request as parsed (zod's output: its fields in the contract's order, so spacing and field order do not matter)
  const claim: IdempotencyClaim = { key, requestHash: await sha256Hex(JSON.stringify(req)), since: now - IDEMPOTENCY_MS };
  const earlier = await createdBefore(env, sender.id, claim);
  if (earlier) return { rec: earlier, created: false };
  try {
    return { rec: await createTransfer(env, sender, req, now, { idempotency: claim }), created: true };
  } catch (e) {
    // another request with this key recorded its transfer first: answer with that one. So also
    // when a check refused this one after that commit (its rate or share counts that transfer)
    const raced = isClaimTaken(e) || e instanceof ApiError ? await createdBefore(env, sender.id, claim) : null;
    if (raced) return { rec: raced, created: false };
    throw e;
  }
}

/** The transfer `claim.key` created since `claim.since`, or null; 422 when that was another request. */
async function createdBefore(env: Env, senderId: string, claim: IdempotencyClaim): Promise<TransferRecord | null> {
  const row = await findIdempotent(env.DB, senderId, claim);
  if (!row) return null;
  if (row.request_hash !== claim.requestHash) {
    throw new ApiError(422, "idempotency_key_reused", `This ${IDEMPOTENCY_HEADER} was used with another request in the last 24 hours: choose a new key for a new transfer.`);
  }
  return getTransferRecord(env.DB, row.transfer_id);
}
