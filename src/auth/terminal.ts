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

/**
 * The terminal whose token a request carries, or null; looked up once per request (the rate
 * limiter and the route both ask).
 */
const lookups = { header: new WeakMap<Request, Promise<TerminalRow | null>>(), query: new WeakMap<Request, Promise<TerminalRow | null>>() };
export function terminalForRequest(db: D1Database, request: Request, allowQuery = false): Promise<TerminalRow | null> {
  const memo = allowQuery ? lookups.query : lookups.header;
  let found = memo.get(request);
  if (!found) {
    found = terminalForToken(db, bearerToken(request, allowQuery));
    memo.set(request, found);
  }
  return found;
}

export async function requireTerminal(db: D1Database, request: Request, allowQuery = false): Promise<TerminalRow> {
  if (bearerToken(request, allowQuery) === null) throw unauthorized();
  const terminal = await terminalForRequest(db, request, allowQuery);
  if (!terminal) throw unauthorized("The token is not valid.");
  return terminal;
}
