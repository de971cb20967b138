import { MAX_BLOCKED, MAX_CONTACTS, type Accept, type TerminalRef, type TerminalSettings } from "../contract";
import { shownTerminalName } from "../present";
import { ApiError, notFound } from "../errors";
import { addToList, addToListUnlessFull, listOf, removeFromList, type ListName } from "../store/contacts";
import { checkRecipients, getTerminal, updateTerminal, type RecipientCheck, type TerminalRow } from "../store/terminals";
import { waitingFor } from "../store/quotas";
import { defaultName } from "./register";
import { releaseHeld } from "./withdraw";

/**
 * Recipient control (contract v1.1): whom a terminal takes transfers from. A terminal's
 * contacts are those it added and those it sent a transfer to; `accept: "known"` takes
 * transfers from contacts only; a blocked sender is refused whatever `accept` says.
 */

/**
 * The recipients of a new transfer, checked in one query: a 404 naming those that do not
 * exist, else a 403 naming those that refuse the sender; else their checks (bytes received for each, and the sender's own declared there). The 403 is the same whether a
 * recipient blocked the sender or does not know it: the sender learns no more than that.
 */
export async function assertRecipientsAccept(db: D1Database, sender: TerminalRow, to: readonly string[], now: number): Promise<RecipientCheck[]> {
  const checks = await checkRecipients(db, sender.id, to, now);
  const found = new Map(checks.map((r) => [r.id, r.refused]));
  const missing = to.filter((id) => !found.has(id));
  if (missing.length > 0) {
    throw new ApiError(404, "terminal_not_found", `No terminal has the id ${missing.join(", ")}.`, {}, { missing });
  }
  const refused = to.filter((id) => found.get(id));
  if (refused.length > 0) {
    throw new ApiError(403, "recipient_refused", `${refused.join(", ")} does not take transfers from this terminal.`, {}, { refused });
  }
  return checks;
}

/** A sender knows whom it sent to: they become its contacts. */
export function rememberRecipients(db: D1Database, sender: TerminalRow, to: readonly string[], now: number): Promise<void> {
  return addToList(db, "contacts", sender.id, to, now, MAX_CONTACTS);
}

/** A terminal's settings, with what waits for it (only it sees this: bytes received for it, and how many of them are still uploading). */
export async function settingsOf(db: D1Database, t: TerminalRow, now = Date.now()): Promise<TerminalSettings> {
  const [contacts, blocked, waiting] = await Promise.all([
    listOf(db, "contacts", t.id, MAX_CONTACTS),
    listOf(db, "blocked", t.id, MAX_BLOCKED),
    waitingFor(db, t.id, now),
  ]);
  const shown = (list: TerminalRef[]) => list.map((r) => ({ id: r.id, name: shownTerminalName(r.id, r.name) }));
  return { name: shownTerminalName(t.id, t.name), accept: t.accept, contacts: shown(contacts), blocked: shown(blocked), waiting };
}

/**
 * `PATCH …/settings`. Setting `accept: "known"` also releases what senders that are not
 * contacts hold for this terminal (src/auth/withdraw.ts), as blocking each of them would.
 */
export async function updateSettings(env: Env, t: TerminalRow, change: { name?: string; accept?: Accept }): Promise<TerminalSettings> {
  // an empty name means "no name": the default one, as at registration
  const name = change.name === undefined ? undefined : change.name || defaultName(t.id);
  await updateTerminal(env.DB, t.id, { name, accept: change.accept });
  if (change.accept === "known") await releaseHeld(env, t.id, { strangers: true });
  return settingsOf(env.DB, (await getTerminal(env.DB, t.id)) ?? t);
}

/**
 * `PUT …/contacts/{otherId}` and `PUT …/blocked/{otherId}`: the other terminal must exist.
 * Blocking a sender also releases its transfers to this terminal not yet downloaded.
 */
export async function addEntry(env: Env, list: ListName, t: TerminalRow, otherId: string, now = Date.now()): Promise<void> {
  const db = env.DB;
  if (!(await getTerminal(db, otherId))) throw notFound("terminal_not_found", `No terminal has the id ${otherId}.`);
  if (list === "contacts") return addToList(db, "contacts", t.id, [otherId], now, MAX_CONTACTS);
  if (!(await addToListUnlessFull(db, "blocked", t.id, otherId, now, MAX_BLOCKED))) {
    throw new ApiError(409, "list_full", `A terminal blocks at most ${MAX_BLOCKED} senders; unblock one first.`, {}, { limit: "MAX_BLOCKED", max: MAX_BLOCKED });
  }
  if (otherId !== t.id) await releaseHeld(env, t.id, { sender: otherId }, now);
}

/**
 * `DELETE …/contacts/{otherId}` and `DELETE …/blocked/{otherId}`: idempotent. A terminal that
 * takes transfers from contacts only and removes one releases what it holds, as a stranger's.
 */
export async function removeEntry(env: Env, list: ListName, t: TerminalRow, otherId: string): Promise<void> {
  await removeFromList(env.DB, list, t.id, otherId);
  if (list === "contacts" && t.accept === "known" && otherId !== t.id) await releaseHeld(env, t.id, { sender: otherId });
}
