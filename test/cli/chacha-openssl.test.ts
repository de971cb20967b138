import { readFileSync } from "node:fs";
import path from "node:path";
import { chacha20poly1305 as noble } from "@noble/ciphers/chacha.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chacha20poly1305 as openssl } from "../../cli/chacha-openssl";

/**
 * The CLI's ChaCha20-Poly1305 (OpenSSL, through node:crypto) is what age-encryption gets in the
 * CLI's bundle in place of @noble/ciphers' (scripts/chacha-plugins.mjs): it must be the same
 * function, byte for byte, and refuse what @noble/ciphers refuses. Debian's `age` opening the
 * CLI's sealed files is test/cli/sealed.test.ts.
 */

const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const nonce = fc.uint8Array({ minLength: 12, maxLength: 12 });
// age's chunks are 64 KiB (+ 16); its wrapped file keys 16 bytes; small and odd lengths too
const message = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 70_000 }).map((n) => new Uint8Array(n).map((_, i) => (i * 31 + n) & 255)));

const nobleThrows = (f: () => unknown) => {
  try {
    f();
    return false;
  } catch {
    return true;
  }
};

describe("cli/chacha-openssl", () => {
  it("encrypts exactly as @noble/ciphers does, with and without AAD, and each opens the other's", () => {
    fc.assert(
      fc.property(key, nonce, message, fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }), (k, n, m, aad) => {
        const ours = openssl(k, n, aad).encrypt(m);
        const theirs = noble(k, n, aad).encrypt(m);
        expect(Buffer.from(ours).equals(Buffer.from(theirs))).toBe(true);
        expect(Buffer.from(openssl(k, n, aad).decrypt(theirs)).equals(Buffer.from(m))).toBe(true);
        expect(Buffer.from(noble(k, n, aad).decrypt(ours)).equals(Buffer.from(m))).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it("refuses every ciphertext with one bit changed, or cut, as @noble/ciphers does", () => {
    fc.assert(
      fc.property(key, nonce, fc.uint8Array({ maxLength: 2000 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (k, n, m, at, bit) => {
        const sealed = noble(k, n).encrypt(m);
        const bad = sealed.slice();
        bad[at % bad.length]! ^= 1 << bit;
        expect(() => openssl(k, n).decrypt(bad)).toThrow("invalid tag");
        expect(nobleThrows(() => noble(k, n).decrypt(bad))).toBe(true);
        const cut = sealed.subarray(0, at % sealed.length);
        expect(() => openssl(k, n).decrypt(cut)).toThrow();
        expect(nobleThrows(() => noble(k, n).decrypt(cut))).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it("refuses another key or nonce, and wrong lengths", () => {
    const k = new Uint8Array(32).fill(7);
    const n = new Uint8Array(12).fill(1);
    const sealed = openssl(k, n).encrypt(new Uint8Array(100));
    expect(() => openssl(new Uint8Array(32), n).decrypt(sealed)).toThrow("invalid tag");
    expect(() => openssl(k, new Uint8Array(12)).decrypt(sealed)).toThrow("invalid tag");
    expect(() => openssl(new Uint8Array(31), n)).toThrow(/key must be 32 bytes/);
    expect(() => openssl(k, new Uint8Array(24))).toThrow(/nonce must be 12 bytes/);
    expect(() => openssl(k, n).decrypt(new Uint8Array(15))).toThrow(/ciphertext length/);
  });

  it("takes its key and nonce when made (age counts its nonce up in place) and seals once per pair", () => {
    const k = new Uint8Array(32).fill(3);
    const n = new Uint8Array(12);
    const c = openssl(k, n);
    n[10] = 1; // age's next chunk
    const m = new Uint8Array(64 * 1024).fill(9);
    expect(Buffer.from(c.encrypt(m)).equals(Buffer.from(noble(k, new Uint8Array(12)).encrypt(m)))).toBe(true);
    expect(() => c.encrypt(m)).toThrow(/twice/);
  });

  it("gives fresh arrays: changing one output changes no other", () => {
    const k = new Uint8Array(32).fill(5);
    const n = new Uint8Array(12);
    const a = openssl(k, n).encrypt(new Uint8Array(10));
    const b = openssl(k, n).decrypt(a);
    expect(a.buffer.byteLength).toBe(a.length);
    expect(b.byteOffset === 0 && b.buffer.byteLength === b.length).toBe(true);
  });

  it("the build plugins give age-encryption's imports the replacement, and only those (the web one keeps @noble/ciphers for its fallback)", async () => {
    const esbuild = await import("esbuild");
    const { opensslChacha, wasmChacha } = await import("../../scripts/chacha-plugins.mjs");
    const root = path.join(import.meta.dirname, "../..");
    const modules = async (plugin: import("esbuild").Plugin) => {
      const r = await esbuild.build({
        stdin: { contents: 'import { Encrypter } from "age-encryption"; console.log(Encrypter);', resolveDir: root, loader: "ts" },
        bundle: true,
        write: false,
        metafile: true,
        format: "esm",
        platform: "node",
        logLevel: "silent",
        plugins: [plugin],
      });
      return Object.keys(r.metafile!.inputs);
    };
    const cli = await modules(opensslChacha);
    expect(cli).toContain("cli/chacha-openssl.ts");
    expect(cli.some((m) => m.endsWith("@noble/ciphers/chacha.js"))).toBe(false);
    const web = await modules(wasmChacha);
    expect(web).toContain("web/seal-worker/chacha.ts");
    expect(web.some((m) => m.endsWith("@noble/ciphers/chacha.js"))).toBe(true); // (the fallback's own import)
  });

  it("is what age-encryption uses in the built pushdrop (and @noble/ciphers' ChaCha is not in it)", () => {
    const bundle = readFileSync(path.join(import.meta.dirname, "../../dist/cli/pushdrop.mjs"), "utf8");
    expect(bundle).toContain("// cli/chacha-openssl.ts");
    expect(bundle).not.toContain("@noble/ciphers/chacha.js");
  });
});
