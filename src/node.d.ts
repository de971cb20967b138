/** The one Node.js API the worker uses (under `nodejs_compat`): native CRC-32 over a chunk, continuing `value`. */
declare module "node:zlib" {
  export function crc32(data: Uint8Array, value?: number): number;
}
