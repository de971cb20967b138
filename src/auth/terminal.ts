import { unauthorized } from "../errors";
import { getTerminalByTokenHash, type TerminalRow } from "../store/terminals";
import { hashToken, sameSecret, TOKEN_RE } from "./tokens";

/** The bearer token of a request: `Authorization: Bearer …`, or `?token=` where a header cannot be sent. */
export function bearerToken(request: Request, allowQuery = false): string | null {
  const header = request.headers.get("authorization");
  if (header) {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return m ? m[1]! : "";
  }
  if (allowQuery) return new URL(request.url).searchParams.get("token");
  return null;
}

/**
 * The terminal a token belongs to, or null. Found by the token's SHA-256 (a unique index);
 * the stored hash is then compared again in constant time, so that nothing about a secret
 * depends on how far a comparison got.
 */
export async function terminalForToken(db: D1Database, token: string | null): Promise<TerminalRow | null> {
  if (!token || !TOKEN_RE.test(token)) return null;
  const hash = await hashToken(token);
  const row = await getTerminalByTokenHash(db, hash);
  return row && sameSecret(row.token_hash, hash) ? row : null;
}

export async function requireTerminal(db: D1Database, request: Request, allowQuery = false): Promise<TerminalRow> {
  const token = bearerToken(request, allowQuery);
  if (token === null) throw unauthorized();
  const terminal = await terminalForToken(db, token);
  if (!terminal) throw unauthorized("The token is not valid.");
  return terminal;
}
