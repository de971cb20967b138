import { chacha20poly1305 as noble } from "@noble/ciphers/chacha.js";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { chacha20poly1305 as adapter, useWasmAead, type WasmAead } from "../../web/seal-worker/chacha";
import { sodiumAead } from "../../web/seal-worker/sodium";

/**
 * web/seal-worker/chacha.ts: what age-encryption gets in /seal-encrypt.js in place of
 * @noble/ciphers (scripts/build-web.mjs). With libsodium's WebAssembly loaded it must be the same
 * function, byte for byte, and refuse what @noble/ciphers refuses; a libsodium that gives anything
 * else is not used. (Run here in Node's V8, as in Chromium's; test/browser/seal-file.test.ts seals
 * through it in Chromium and opens the result with Debian's `age`.)
 */

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
const message = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31 + n) & 255)));
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe("web/seal-worker/chacha with libsodium", () => {
  let sodium: WasmAead;
  beforeAll(async () => {
    sodium = await sodiumAead();
    expect(useWasmAead(sodium)).toBe("wasm");
  });

  it("encrypts exactly as @noble/ciphers does, with and without AAD, and each opens the other's", () => {
    fc.assert(
      fc.property(key, nonce, message, fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }), (k, n, m, aad) => {
        const ours = adapter(k, n, aad).encrypt(m);
        expect(same(ours, noble(k, n, aad).encrypt(m))).toBe(true);
        expect(same(adapter(k, n, aad).decrypt(noble(k, n, aad).encrypt(m)), m)).toBe(true);
        expect(same(noble(k, n, aad).decrypt(ours), m)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses every ciphertext with one bit changed, or cut", () => {
    fc.assert(
      fc.property(key, nonce, fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (k, n, m, at, bit) => {
        const sealed = noble(k, n).encrypt(m);
        const bad = sealed.slice();
        bad[at % bad.length]! ^= 1 << bit;
        expect(() => adapter(k, n).decrypt(bad)).toThrow("invalid tag");
        expect(() => adapter(k, n).decrypt(sealed.subarray(0, at % sealed.length))).toThrow();
      }),
      { numRuns: 200 },
    );
  });

  it("takes its nonce when made (age counts it up in place), seals once per pair, refuses wrong lengths", () => {
    const k = new Uint8Array(32).fill(3);
    const n = new Uint8Array(12);
    const c = adapter(k, n);
    n[10] = 1;
    const m = new Uint8Array(64 * 1024).fill(9);
    expect(same(c.encrypt(m), noble(k, new Uint8Array(12)).encrypt(m))).toBe(true);
    expect(() => c.encrypt(m)).toThrow(/twice/);
    expect(() => adapter(new Uint8Array(31), n)).toThrow(/key must be 32 bytes/);
    expect(() => adapter(k, new Uint8Array(24))).toThrow(/nonce must be 12 bytes/);
    expect(() => adapter(k, n).decrypt(new Uint8Array(15))).toThrow(/ciphertext length/);
  });

  it("a WebAssembly AEAD that does not give @noble/ciphers' bytes is not used (JavaScript's is)", () => {
    const wrong: WasmAead = { seal: (m) => new Uint8Array(m.length + 16), open: () => new Uint8Array(0) };
    expect(useWasmAead(wrong)).toBe("js");
    const k = new Uint8Array(32).fill(1);
    const n = new Uint8Array(12);
    expect(same(adapter(k, n).encrypt(new Uint8Array(10)), noble(k, n).encrypt(new Uint8Array(10)))).toBe(true);
    expect(useWasmAead(sodium)).toBe("wasm");
  });
});
