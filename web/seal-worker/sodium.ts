import sodium from "libsodium-wrappers";
import type { AeadPrimitive } from "../../client/seal/aead";

/** libsodium's ChaCha20-Poly1305 (ietf), once its WebAssembly is compiled. */
export async function sodiumAead(): Promise<AeadPrimitive> {
  await sodium.ready;
  return {
    seal: (m, aad, nonce, key) => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(m, aad, null, nonce, key),
    open: (c, aad, nonce, key) => sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, c, aad, nonce, key),
  };
}
