/** R2 key naming: the only place that builds object keys. */

/** Every object of a transfer's uploads lives under this prefix. */
export const uploadPrefix = (transferId: string) => `uploads/${transferId}/`;
/** One upload of one part: `nonce` makes each request's object its own (see migrations/0004). */
export const partKey = (transferId: string, index: number, part: number, nonce: string) =>
  `${uploadPrefix(transferId)}${index}/${part}.${nonce}`;
/** The package's frame: every byte of the ZIP but the files' own (src/package/build.ts). */
export const frameKey = (transferId: string) => `packages/${transferId}.frame`;

/** 72 random bits in hex: what makes one request's part object its own. */
export function newNonce(): string {
  let s = "";
  for (const b of crypto.getRandomValues(new Uint8Array(9))) s += b.toString(16).padStart(2, "0");
  return s;
}
