#!/usr/bin/env node
// `postinstall`: applies patches/ with patch-package (wrangler dev's proxy; see README) in a
// checkout where `npm ci` installed the dev dependencies. `npm install -g <checkout>` also
// runs this, in a checkout with no node_modules and nothing to patch: then it does nothing,
// so that the global install of the `pushdrop` command succeeds.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = path.join(root, "node_modules", ".bin", "patch-package");
if (!existsSync(path.join(root, "node_modules", "wrangler"))) process.exit(0);
const run = spawnSync(bin, [], { cwd: root, stdio: "inherit" });
process.exit(run.status ?? 1);
