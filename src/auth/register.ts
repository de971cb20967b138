import { formatTerminalId, newTerminalId } from "./ids";
import { hashToken, newToken } from "./tokens";
import { insertTerminal, type TerminalRow } from "../store/terminals";

/** The name a terminal goes by when it was given none. */
export const defaultName = (id: string) => `Terminal ${formatTerminalId(id)}`;

/** Registers a device: a fresh id (drawn again on the rare collision) and a token shown once. */
export async function registerTerminal(
  db: D1Database,
  name: string | undefined,
  now = Date.now(),
): Promise<{ row: TerminalRow; token: string }> {
  const token = newToken();
  const token_hash = await hashToken(token);
  for (let attempt = 0; attempt < 8; attempt++) {
    const id = newTerminalId();
    const row: TerminalRow = { id, name: name || defaultName(id), token_hash, created_at: now, accept: "anyone", token_gen: 1, deleted_at: null, age_key: null, age_key_gen: 0 };
    if (await insertTerminal(db, row)) return { row, token };
  }
  throw new Error("could not draw a free terminal id");
}
