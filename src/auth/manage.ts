import { unauthorized } from "../errors";
import { cancelSentBy } from "../expire";
import { terminalStub } from "../notify/producers";
import { markTerminalDeleted, replaceTokenHash, type TerminalRow } from "../store/terminals";
import { hashToken, newToken } from "./tokens";

/** A terminal managing itself (contract v1.1): a new token, or the end of the terminal. */

/**
 * `POST /v1/terminals/{id}/token`. The old token stops working at once (D1 keeps only the
 * new hash); the terminal's Durable Object then closes every socket opened with an older
 * token generation, and refuses such sockets from then on.
 */
export async function rotateToken(env: Env, caller: TerminalRow): Promise<string> {
  const token = newToken();
  const gen = await replaceTokenHash(env.DB, caller.id, caller.token_hash, await hashToken(token));
  if (gen === null) throw unauthorized("The token is not valid (it was rotated or the terminal deleted meanwhile).");
  try {
    await terminalStub(env, caller.id).revokeSockets(gen);
  } catch (e) {
    // The new token must reach the caller even so: it is the only one that works now. An
    // old socket left open is closed by the first socket opened with the new token.
    console.error(JSON.stringify({ event: "revoke_failed", terminal: caller.id, error: String(e) }));
  }
  return token;
}

/**
 * `DELETE /v1/terminals/{id}`. The terminal becomes a tombstone (its id answers 404 and is
 * never drawn again; its token fails), its Durable Object forgets its subscriptions,
 * messages and pushes and closes its sockets, and every transfer it sent that is not yet
 * delivered is cancelled (recipients that were told get `transfer.cancelled`). A cancel
 * this request does not finish is finished by the sweep.
 */
export async function deleteTerminal(env: Env, caller: TerminalRow, now = Date.now()): Promise<void> {
  if (!(await markTerminalDeleted(env.DB, caller.id, caller.token_hash, now))) {
    throw unauthorized("The token is not valid (it was rotated or the terminal deleted meanwhile).");
  }
  await terminalStub(env, caller.id).erase();
  await cancelSentBy(env, caller.id);
}
