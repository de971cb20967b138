// The headers public/_headers gives a path, as Workers Static Assets applies them: every block
// whose path matches (exact, or a prefix ending in "*"), in sorted path order, a block's
// "! Name" unsets before its assignments. For the pages scripts/bench-browser-seal.mjs and the
// browser tests serve themselves (no `npm start`), so they get the policies the app's scripts get:
// /seal-hash.js and /sw.js may run WebAssembly, the page may not.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "public", "_headers");

/** The headers (lower-case names) public/_headers gives `urlPath`. */
export function staticHeaders(urlPath) {
  const blocks = [];
  for (const line of readFileSync(file, "utf8").split("\n")) {
    if (line.startsWith("/")) blocks.push({ path: line.trim(), lines: [] });
    else if (/^\s+\S/.test(line) && !/^\s+#/.test(line) && blocks.length) blocks.at(-1).lines.push(line.trim());
  }
  const matches = (p) => (p.endsWith("*") ? urlPath.startsWith(p.slice(0, -1)) : urlPath === p);
  const out = {};
  for (const b of blocks.filter((x) => matches(x.path)).sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0))) {
    for (const l of b.lines) if (l.startsWith("!")) delete out[l.slice(1).trim().toLowerCase()];
    for (const l of b.lines) {
      const m = /^([^!:][^:]*):\s*(.*)$/.exec(l);
      if (m) out[m[1].trim().toLowerCase()] = m[2];
    }
  }
  return out;
}
