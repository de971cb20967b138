import { ApiError, unauthorized } from "../errors";
import { cancelSentBy, eraseDeleted } from "../expire";
import { terminalStub } from "../notify/producers";
import { markTerminalDeleted, replaceTokenHash, type TerminalRow } from "../store/terminals";
import { hashToken, newToken } from "./tokens";

/** A terminal managing itself (contract v1.1): a new token, or the end of the terminal. */

/**
 * `POST /v1/terminals/{id}/token`. A rotation is what a terminal does about a stolen token,
 * so the thief's live socket must not outlast it: the terminal's Durable Object first closes
 * every socket opened with an older token generation than the new token's, and refuses such
 * sockets from then on; only then does D1 take the new hash (the old token stops working at
 * once). If the sockets cannot be closed, nothing changes and the caller is told to try again
 * (503): it keeps a working token either way.
 */
export async function rotateToken(env: Env, caller: TerminalRow): Promise<string> {
  try {
    await terminalStub(env, caller.id).revokeSockets(caller.token_gen + 1);
  } catch (e) {
    console.error(JSON.stringify({ event: "revoke_failed", terminal: caller.id, error: String(e) }));
    throw new ApiError(503, "rotation_unavailable", "The token could not be rotated just now (its live sockets could not be closed); nothing changed. Try again.", { "Retry-After": "5" });
  }
  const token = newToken();
  const gen = await replaceTokenHash(env.DB, caller.id, caller.token_hash, await hashToken(token));
  if (gen === null) throw unauthorized("The token is not valid (it was rotated or the terminal deleted meanwhile).");
  return token;
}

/**
 * `DELETE /v1/terminals/{id}`. The terminal becomes a tombstone (its id answers 404 and is
 * never drawn again; its token fails), its Durable Object forgets its subscriptions,
 * messages and pushes and closes its sockets, and every transfer it sent that is not yet
 * delivered is cancelled (recipients that were told get `transfer.cancelled`). Once the
 * tombstone is written the terminal is deleted, and the answer says so: an erase or a cancel
 * this request does not finish is logged and finished by the sweep (eraseDeleted,
 * cancelSentBy), not answered with an error the caller could do nothing about (its token no
 * longer works).
 */
export async function deleteTerminal(env: Env, caller: TerminalRow, now = Date.now()): Promise<void> {
  if (!(await markTerminalDeleted(env.DB, caller.id, caller.token_hash, now))) {
    throw unauthorized("The token is not valid (it was rotated or the terminal deleted meanwhile).");
  }
  try {
    await eraseDeleted(env, caller.id, now);
  } catch (e) {
    console.error(JSON.stringify({ event: "terminal_erase_failed", terminal: caller.id, error: String(e) }));
  }
  try {
    await cancelSentBy(env, caller.id);
  } catch (e) {
    console.error(JSON.stringify({ event: "terminal_cancels_unfinished", terminal: caller.id, error: String(e) }));
  }
}
