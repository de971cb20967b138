import { base64url as base64urlOf, dammDigit } from "../contract";

/**
 * Drawing new ids (the server's job). Checking, formatting and encoding them is shared with
 * every client and lives in the contract (src/contract/ids.ts), re-exported here.
 */
export {
  base64url,
  dammDigit,
  formatTerminalId,
  fromBase64url,
  normalizeTerminalId,
  TRANSFER_ID_RE,
} from "../contract";

export function newTerminalId(): string {
  const bytes = new Uint32Array(8);
  let body = "";
  while (body.length < 8) {
    crypto.getRandomValues(bytes);
    for (const b of bytes) {
      if (body.length === 8) break;
      if (b < 4_294_967_290) body += String(b % 10); // reject the biased tail
    }
  }
  return body + String(dammDigit(body));
}

export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/**
 * Transfer ids: 128 random bits, base64url (22 characters), never starting with "-": command
 * lines would read such an id as an option (`pushdrop get -x…`), so one is drawn again
 * (1 draw in 64; the id keeps 127.98 bits of randomness).
 */
export function newTransferId(): string {
  for (;;) {
    const id = base64urlOf(randomBytes(16));
    if (id[0] !== "-") return id;
  }
}
