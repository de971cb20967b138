#!/usr/bin/env node
// Builds the `pushdrop` command: cli/main.ts (TypeScript, importing client/ and src/contract)
// into one ES module, dist/cli/pushdrop.mjs, that Node 20 runs as it is. Runs at `npm ci` /
// `npm install` (the `prepare` script) and by `npm run build:cli`.
//
// The build is also committed: `npm install -g <fresh clone>` links the checkout without
// installing its devDependencies (esbuild among them), so only a committed build runs there.
// test/cli/build.test.ts fails when the committed file is not what this script makes now.
//
// Its libraries (commander, cli-progress, uqr, ws) are bundled in: the output needs no
// node_modules at run time, so a global install (which npm makes as a link to this checkout,
// or as a copy without devDependencies) works from any directory, and they stay
// devDependencies (inputs to this build), not packages every server install pulls in.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { opensslChacha } from "./chacha-plugins.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// `--out <file>`: build elsewhere (the test that checks the committed build is current)
const outArg = process.argv.indexOf("--out");
const outfile = outArg > 0 ? path.resolve(process.argv[outArg + 1]) : path.join(root, "dist", "cli", "pushdrop.mjs");

let esbuild;
try {
  esbuild = await import("esbuild");
} catch {
  // e.g. `npm install --omit=dev`, or a global install of a checkout where `npm ci` never ran:
  // do not fail the install; bin/pushdrop.mjs says what to do if the build is missing
  console.warn(`[build-cli] esbuild is not installed: pushdrop not built${existsSync(outfile) ? " (keeping the earlier build)" : ""}. Run \`npm ci\` here to build it.`);
  process.exit(0);
}

const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8"));
await esbuild.build({
  entryPoints: [path.join(root, "cli", "main.ts")],
  outfile,
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  // ws is CommonJS and requires Node's built-ins: give the bundle a real `require`
  banner: { js: "import { createRequire as __pushdropRequire } from 'node:module'; const require = __pushdropRequire(import.meta.url);" },
  // ws's optional native speed-ups, loaded in a try/catch when present
  external: ["bufferutil", "utf-8-validate"],
  define: { PUSHDROP_VERSION: JSON.stringify(pkg.version) },
  tsconfig: path.join(root, "cli", "tsconfig.json"),
  // age-encryption's ChaCha20-Poly1305 from node:crypto (OpenSSL), not JavaScript: see scripts/chacha-plugins.mjs
  plugins: [opensslChacha],
  legalComments: "none",
  sourcemap: false,
  logLevel: "warning",
});
if (process.argv.includes("--verbose")) console.log(`[build-cli] wrote ${path.relative(root, outfile)}`);
