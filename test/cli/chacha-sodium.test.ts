import { chacha20poly1305 as noble } from "@noble/ciphers/chacha.js";
import { beforeAll, describe, expect, it } from "vitest";
import { chachaFrom, type AeadPrimitive } from "../../client/seal/aead";
import { chacha20poly1305 as adapter, useWasmAead } from "../../web/seal-worker/chacha";
import { sodiumAead } from "../../web/seal-worker/sodium";
import { behavesAsNoble } from "./support/aead";

/**
 * web/seal-worker/chacha.ts: what age-encryption gets in /seal-encrypt.js and /sw-seal.js in
 * place of @noble/ciphers (scripts/build-web.mjs). libsodium's WebAssembly in age's shape must be
 * the same function, byte for byte, and refuse what @noble/ciphers refuses; the module uses it
 * once it loaded and checked out, and a libsodium that gives anything else is not used. (Run here
 * in Node's V8, as in Chromium's; test/browser/seal-file.test.ts seals through it in Chromium and
 * opens the result with Debian's `age`.)
 */

const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe("web/seal-worker/chacha with libsodium", () => {
  let sodium: AeadPrimitive;
  beforeAll(async () => {
    sodium = await sodiumAead();
  });

  behavesAsNoble(() => chachaFrom(sodium));

  it("once libsodium checked out, age's calls go to it; one that does not give @noble/ciphers' bytes is not used (JavaScript's is)", () => {
    let calls = 0;
    const counted: AeadPrimitive = { seal: (...a) => (calls++, sodium.seal(...a)), open: (...a) => (calls++, sodium.open(...a)) };
    expect(useWasmAead(counted)).toBe("wasm");
    const k = new Uint8Array(32).fill(1);
    const n = new Uint8Array(12);
    const before = calls;
    const sealed = adapter(k, n).encrypt(new Uint8Array(10));
    expect(same(adapter(k, n).decrypt(sealed), new Uint8Array(10))).toBe(true);
    expect(calls - before).toBe(2);

    const wrong: AeadPrimitive = { seal: (m) => new Uint8Array(m.length + 16), open: () => new Uint8Array(0) };
    expect(useWasmAead(wrong)).toBe("js");
    expect(same(adapter(k, n).encrypt(new Uint8Array(10)), noble(k, n).encrypt(new Uint8Array(10)))).toBe(true);
  });
});
