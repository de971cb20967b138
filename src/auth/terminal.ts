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
 * Tokens (by hash) that D1 did not know, remembered in this isolate for UNKNOWN_TOKEN_MS: a
 * client that sends the same made-up, revoked or rotated-away token again and again (a stale
 * config, a retry loop) then costs a hash and a map lookup per request, not a D1 read, before
 * the address limiter refuses it. (A flood of ever-new random tokens still costs a D1 read
 * each until the address limiter refuses the address.) Safe to remember: tokens are drawn by the server
 * (256 random bits), so one that names no terminal now never will (a new or rotated token is
 * in D1 before anyone holds it). Bounded: forgotten wholesale past MAX_UNKNOWN_TOKENS.
 */
const unknownTokens = new Map<string, number>();
const UNKNOWN_TOKEN_MS = 60_000;
const MAX_UNKNOWN_TOKENS = 10_000;

/**
 * The terminal a token belongs to, or null. Found by the token's SHA-256 (a unique index);
 * the stored hash is then compared again in constant time, so that nothing about a secret
 * depends on how far a comparison got.
 */
export async function terminalForToken(db: D1Database, token: string | null, now = Date.now()): Promise<TerminalRow | null> {
  if (!token || !TOKEN_RE.test(token)) return null;
  const hash = await hashToken(token);
  const unknownUntil = unknownTokens.get(hash);
  if (unknownUntil !== undefined) {
    if (unknownUntil > now) return null;
    unknownTokens.delete(hash);
  }
  const row = await getTerminalByTokenHash(db, hash);
  if (row && sameSecret(row.token_hash, hash)) return row;
  if (unknownTokens.size >= MAX_UNKNOWN_TOKENS) unknownTokens.clear();
  unknownTokens.set(hash, now + UNKNOWN_TOKEN_MS);
  return null;
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
