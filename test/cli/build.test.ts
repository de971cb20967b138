import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../node/support/server.ts";

/**
 * dist/cli/pushdrop.mjs is committed, so that `npm install -g <fresh clone>` (which links the
 * checkout and installs none of its devDependencies) gives a working command. It must be what
 * scripts/build-cli.mjs makes from the sources now.
 */
it("the committed build of the pushdrop command is current (run `npm run build:cli` and commit it)", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "pushdrop-build-"));
  try {
    const out = path.join(dir, "pushdrop.mjs");
    execFileSync(process.execPath, [path.join(ROOT, "scripts", "build-cli.mjs"), "--out", out], { cwd: ROOT });
    const fresh = readFileSync(out);
    const committed = execFileSync("git", ["show", "HEAD:dist/cli/pushdrop.mjs"], { cwd: ROOT, maxBuffer: 64 << 20 });
    expect(fresh.equals(readFileSync(path.join(ROOT, "dist", "cli", "pushdrop.mjs")))).toBe(true);
    expect(fresh.equals(committed)).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it("the pushdrop command bundles no schema library: it imports only types and plain constants from src/contract", () => {
  const bundle = readFileSync(path.join(ROOT, "dist", "cli", "pushdrop.mjs"), "utf8");
  // zod came in once through a value import from the contract's index (which builds schemas)
  expect(bundle).not.toMatch(/\bz\.object\(|ZodError|zod/);
  // and by size: zod alone bundles to about 19,700 lines; the command with age-encryption (sealed
  // transfers, v1.2) is about 22,000, so a bundle that took zod in would be over 30,000
  expect(bundle.split("\n").length).toBeLessThan(30_000);
});
