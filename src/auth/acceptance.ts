import { MAX_BLOCKED, MAX_CONTACTS, type Accept, type TerminalSettings } from "../contract";
import { ApiError, notFound } from "../errors";
import { addToList, addToListUnlessFull, listOf, removeFromList, type ListName } from "../store/contacts";
import { checkRecipients, getTerminal, updateTerminal, type TerminalRow } from "../store/terminals";
import { defaultName } from "./register";

/**
 * Recipient control (contract v1.1): whom a terminal takes transfers from. A terminal's
 * contacts are those it added and those it sent a transfer to; `accept: "known"` takes
 * transfers from contacts only; a blocked sender is refused whatever `accept` says.
 */

/**
 * The recipients of a new transfer, checked in one query: a 404 naming those that do not
 * exist, else a 403 naming those that refuse the sender. The 403 is the same whether a
 * recipient blocked the sender or does not know it: the sender learns no more than that.
 */
export async function assertRecipientsAccept(db: D1Database, sender: TerminalRow, to: readonly string[]): Promise<void> {
  const found = new Map((await checkRecipients(db, sender.id, to)).map((r) => [r.id, r.refused]));
  const missing = to.filter((id) => !found.has(id));
  if (missing.length > 0) {
    throw new ApiError(404, "terminal_not_found", `No terminal has the id ${missing.join(", ")}.`, {}, { missing });
  }
  const refused = to.filter((id) => found.get(id));
  if (refused.length > 0) {
    throw new ApiError(403, "recipient_refused", `${refused.join(", ")} does not take transfers from this terminal.`, {}, { refused });
  }
}

/** A sender knows whom it sent to: they become its contacts. */
export function rememberRecipients(db: D1Database, sender: TerminalRow, to: readonly string[], now: number): Promise<void> {
  return addToList(db, "contacts", sender.id, to, now, MAX_CONTACTS);
}

export async function settingsOf(db: D1Database, t: TerminalRow): Promise<TerminalSettings> {
  const [contacts, blocked] = await Promise.all([listOf(db, "contacts", t.id, MAX_CONTACTS), listOf(db, "blocked", t.id, MAX_BLOCKED)]);
  return { name: t.name, accept: t.accept, contacts, blocked };
}

export async function updateSettings(db: D1Database, t: TerminalRow, change: { name?: string; accept?: Accept }): Promise<TerminalSettings> {
  // an empty name means "no name": the default one, as at registration
  const name = change.name === undefined ? undefined : change.name || defaultName(t.id);
  await updateTerminal(db, t.id, { name, accept: change.accept });
  return settingsOf(db, (await getTerminal(db, t.id)) ?? t);
}

/** `PUT …/contacts/{otherId}` and `PUT …/blocked/{otherId}`: the other terminal must exist. */
export async function addEntry(db: D1Database, list: ListName, t: TerminalRow, otherId: string, now = Date.now()): Promise<void> {
  if (!(await getTerminal(db, otherId))) throw notFound("terminal_not_found", `No terminal has the id ${otherId}.`);
  if (list === "contacts") return addToList(db, "contacts", t.id, [otherId], now, MAX_CONTACTS);
  if (!(await addToListUnlessFull(db, "blocked", t.id, otherId, now, MAX_BLOCKED))) {
    throw new ApiError(409, "list_full", `A terminal blocks at most ${MAX_BLOCKED} senders; unblock one first.`, {}, { limit: "MAX_BLOCKED", max: MAX_BLOCKED });
  }
}

/** `DELETE …/contacts/{otherId}` and `DELETE …/blocked/{otherId}`: idempotent. */
export function removeEntry(db: D1Database, list: ListName, t: TerminalRow, otherId: string): Promise<void> {
  return removeFromList(db, list, t.id, otherId);
}
