import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { chacha20poly1305 as openssl } from "../../cli/chacha-openssl";
import { behavesAsNoble } from "./support/aead";

/**
 * The CLI's ChaCha20-Poly1305 (OpenSSL, through node:crypto) is what age-encryption gets in the
 * CLI's bundle in place of @noble/ciphers' (scripts/chacha-plugins.mjs): it must be the same
 * function, byte for byte, and refuse what @noble/ciphers refuses. Debian's `age` opening the
 * CLI's sealed files is test/cli/sealed.test.ts.
 */

describe("cli/chacha-openssl", () => {
  behavesAsNoble(() => openssl);

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
