import { chacha20poly1305 as noble } from "@noble/ciphers/chacha.js";
import fc from "fast-check";
import { expect, it } from "vitest";
import type { Chacha20Poly1305 } from "../../../client/seal/aead";

/**
 * What a ChaCha20-Poly1305 given to age-encryption in place of @noble/ciphers' must do
 * (client/seal/aead.ts): be the same function byte for byte, refuse what @noble/ciphers refuses,
 * take its key and nonce when made, seal once per pair, and give fresh arrays. Declares the tests
 * in the caller's describe; `ours()` is read when each test runs (after a beforeAll loaded it).
 */
export function behavesAsNoble(ours: () => Chacha20Poly1305): void {
  const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
  // age's chunks are 64 KiB (+ 16); its wrapped file keys 16 bytes; small and odd lengths too
  const message = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31 + n) & 255)));
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
  const throws = (f: () => unknown) => {
    try {
      f();
      return false;
    } catch {
      return true;
    }
  };

  it("encrypts exactly as @noble/ciphers does, with and without AAD, and each opens the other's", () => {
    const c = ours();
    fc.assert(
      fc.property(key, nonce, message, fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }), (k, n, m, aad) => {
        const mine = c(k, n, aad).encrypt(m);
        const theirs = noble(k, n, aad).encrypt(m);
        expect(same(mine, theirs)).toBe(true);
        expect(same(c(k, n, aad).decrypt(theirs), m)).toBe(true);
        expect(same(noble(k, n, aad).decrypt(mine), m)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses every ciphertext with one bit changed, or cut, as @noble/ciphers does", () => {
    const c = ours();
    fc.assert(
      fc.property(key, nonce, fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (k, n, m, at, bit) => {
        const sealed = noble(k, n).encrypt(m);
        const bad = sealed.slice();
        bad[at % bad.length]! ^= 1 << bit;
        expect(() => c(k, n).decrypt(bad)).toThrow("invalid tag");
        expect(throws(() => noble(k, n).decrypt(bad))).toBe(true);
        const cut = sealed.subarray(0, at % sealed.length);
        expect(() => c(k, n).decrypt(cut)).toThrow();
        expect(throws(() => noble(k, n).decrypt(cut))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses another key or nonce, and wrong lengths", () => {
    const c = ours();
    const k = new Uint8Array(32).fill(7);
    const n = new Uint8Array(12).fill(1);
    const sealed = c(k, n).encrypt(new Uint8Array(100));
    expect(() => c(new Uint8Array(32), n).decrypt(sealed)).toThrow("invalid tag");
    expect(() => c(k, new Uint8Array(12)).decrypt(sealed)).toThrow("invalid tag");
    expect(() => c(new Uint8Array(31), n)).toThrow(/key must be 32 bytes/);
    expect(() => c(k, new Uint8Array(24))).toThrow(/nonce must be 12 bytes/);
    expect(() => c(k, n).decrypt(new Uint8Array(15))).toThrow(/ciphertext length/);
  });

  it("takes its key and nonce when made (age counts its nonce up in place) and seals once per pair", () => {
    const k = new Uint8Array(32).fill(3);
    const n = new Uint8Array(12);
    const c = ours()(k, n);
    n[10] = 1; // age's next chunk
    const m = new Uint8Array(64 * 1024).fill(9);
    expect(same(c.encrypt(m), noble(k, new Uint8Array(12)).encrypt(m))).toBe(true);
    expect(() => c.encrypt(m)).toThrow(/twice/);
  });

  it("gives fresh arrays: changing one output changes no other", () => {
    const k = new Uint8Array(32).fill(5);
    const n = new Uint8Array(12);
    const a = ours()(k, n).encrypt(new Uint8Array(10));
    const b = ours()(k, n).decrypt(a);
    expect(a.buffer.byteLength).toBe(a.length);
    expect(b.byteOffset === 0 && b.buffer.byteLength === b.length).toBe(true);
  });
}
