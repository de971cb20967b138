import { unauthorized } from "../errors";
import { getTerminalByTokenHash, type TerminalRow } from "../store/terminals";
import { hashToken, TOKEN_RE } from "./tokens";

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

/** The terminal a token belongs to, or null. */
export async function terminalForToken(db: D1Database, token: string | null): Promise<TerminalRow | null> {
  if (!token || !TOKEN_RE.test(token)) return null;
  return getTerminalByTokenHash(db, await hashToken(token));
}

export async function requireTerminal(db: D1Database, request: Request, allowQuery = false): Promise<TerminalRow> {
  const token = bearerToken(request, allowQuery);
  if (token === null) throw unauthorized();
  const terminal = await terminalForToken(db, token);
  if (!terminal) throw unauthorized("The token is not valid.");
  return terminal;
}
