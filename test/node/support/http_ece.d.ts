// Minimal types for http_ece 1.x (RFC 8188 / RFC 8291), which ships none.
declare module "http_ece" {
  import type { ECDH } from "node:crypto";
  export interface EceParams {
    version?: "aes128gcm" | "aesgcm";
    /** the receiver's ECDH key (Web Push: the user agent's subscription key) */
    privateKey?: ECDH;
    /** the 16-byte auth secret of the subscription */
    authSecret?: Buffer | string;
    dh?: Buffer | string;
    salt?: Buffer | string;
    key?: Buffer | string;
    keyid?: string;
    rs?: number;
  }
  export function decrypt(buffer: Buffer, params: EceParams): Buffer;
  export function encrypt(buffer: Buffer, params: EceParams): Buffer;
  const ece: { decrypt: typeof decrypt; encrypt: typeof encrypt };
  export default ece;
}
