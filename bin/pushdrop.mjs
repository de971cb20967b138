#!/usr/bin/env node
// The `pushdrop` command's launcher (package.json "bin"). It stays plain JavaScript that any
// Node parses, so it can say what is wrong instead of failing on syntax: a Node too old, or a
// checkout whose CLI was never built (scripts/build-cli.mjs runs at `npm ci`).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

var major = Number(process.versions.node.split(".")[0]);
if (major < 20) {
  process.stderr.write("pushdrop needs Node.js 20 or newer; this is " + process.version + ".\n");
  process.exit(2);
}
var built = new URL("../dist/cli/pushdrop.mjs", import.meta.url);
if (!existsSync(built)) {
  var root = fileURLToPath(new URL("..", import.meta.url));
  process.stderr.write("pushdrop is not built yet. Run `npm ci` (or `npm run build:cli`) in " + root + "\n");
  process.exit(1);
}
await import(built.href);
