#!/usr/bin/env node
// Builds the web app (web/) into the Workers Static Assets folder (public/): the app bundle
// (ES modules, the QR decoder split into a chunk loaded only when the camera scans without
// BarcodeDetector), the service worker /sw.js, the stylesheet, index.html, the web manifest and
// PNG icons drawn here (no image files to keep in git). Runs inside `npm ci` (prepare),
// `npm start` and `npm test`; never by hand. It writes only its own files (each atomically, so
// a server reading public/ never sees half a file) and leaves anything else in public/ alone
// (e.g. `_headers`). Prints one line: what the first load costs in JavaScript.
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deflateSync, gzipSync, crc32 } from "node:zlib";
import * as esbuild from "esbuild";
import { readCatalogs, checkCatalogs, compiledCatalog, manifestLocalized, PSEUDO, SOURCE } from "./i18n.mjs";
import { wasmChacha } from "./chacha-plugins.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const web = path.join(root, "web");
const out = path.join(root, "public");
const THEME = "#0b6e69";
const BACKGROUND = "#f6f7f8";

// ---- icons: a white arrow dropping into a tray, on the theme colour ---------------------------
// Shapes in a 0..1 square, so the SVG and every PNG size draw the same picture.
const ARROW = [
  [0.44, 0.2], [0.56, 0.2], [0.56, 0.47], [0.66, 0.47], [0.5, 0.63], [0.34, 0.47], [0.44, 0.47],
];
const TRAY = [
  [0.24, 0.56], [0.32, 0.56], [0.32, 0.72], [0.68, 0.72], [0.68, 0.56], [0.76, 0.56], [0.76, 0.8], [0.24, 0.8],
];

/**
 * Writes a file so that readers see the old or the new bytes, never a mix; a file whose bytes
 * are already there is left untouched, so a running `wrangler dev` (which reloads when its
 * assets change) is not disturbed when another `npm start` builds the same app again.
 */
function put(rel, data) {
  const file = path.join(out, rel);
  if (existsSync(file) && Buffer.compare(readFileSync(file), Buffer.from(data)) === 0) return;
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

// ---- budgets (gzipped bytes): the build fails past any of them (issue 24) ---------------------
const BUDGET = {
  shell: 25 * 1024, // the JavaScript of a first load: the entry and what it imports statically
  catalog: 8 * 1024, // one language's compiled catalog (public/i18n/<tag>.json)
  lazy: 64 * 1024, // each chunk loaded on demand (the QR decoder, jsQR: ~50 KB)
  sw: 12 * 1024, // the service worker
  swSeal: 64 * 1024, // the service worker's sealed part (/sw-seal.js: the age library, opening, the streamed save)
  sealWorker: 64 * 1024, // each sealing worker (/seal-encrypt.js: the age library; /seal-hash.js: SHA-256)
  // /seal-aead.js: libsodium's ChaCha20-Poly1305 (WebAssembly; libsodium whole, about 150 KB),
  // loaded by /seal-encrypt.js and the service worker: about 3× the JavaScript one's rate
  sealAead: 160 * 1024,
};

// ---- message catalogs (web/i18n/<tag>.json): checked, then compiled for the browser -----------
// Wrong ICU syntax, a key English does not have or placeholders that differ from English's stop
// the build; a key a language lacks is English's in its compiled catalog (said below), so a
// partial translation still shows every string. test/cli/i18n.test.ts requires complete ones.
const catalogs = readCatalogs();
const catalogProblems = checkCatalogs(catalogs);
const fatal = catalogProblems.filter((p) => !p.endsWith(" is missing"));
if (fatal.length) {
  console.error(`[build-web] web/i18n/ catalogs:\n  ${fatal.join("\n  ")}`);
  process.exit(1);
}
const missing = catalogProblems.length - fatal.length;
const languages = Object.keys(catalogs).filter((t) => t !== PSEUDO);

const common = {
  bundle: true,
  minify: true,
  write: false,
  legalComments: "none",
  target: ["chrome109", "safari16", "firefox115"],
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"', __PUSHDROP_LANGUAGES__: JSON.stringify(languages) },
};

const app = await esbuild.build({
  ...common,
  entryPoints: { app: path.join(web, "app.ts"), style: path.join(web, "app.css") },
  tsconfig: path.join(web, "tsconfig.json"),
  format: "esm",
  splitting: true,
  outdir: out,
  chunkNames: "chunks/[name]-[hash]",
  metafile: true,
});
// the sealing workers (web/seal-worker/): dedicated workers web/seal/seal-file.ts starts only
// when a file is sealed into the spool, each a classic script of its own (budget: sealWorker)
const sealWorkers = await esbuild.build({
  ...common,
  entryPoints: {
    "seal-encrypt": path.join(web, "seal-worker", "encrypt.ts"),
    "seal-hash": path.join(web, "seal-worker", "hash.ts"),
    "seal-aead": path.join(web, "seal-worker", "aead.ts"),
  },
  // age-encryption's ChaCha20-Poly1305 in /seal-encrypt.js: libsodium's (/seal-aead.js) once
  // loaded, else @noble/ciphers' (scripts/chacha-plugins.mjs)
  plugins: [wasmChacha],
  tsconfig: path.join(web, "seal-worker", "tsconfig.json"),
  format: "iife",
  outdir: out,
});

// the service worker keeps a copy of the sealing workers' scripts (web/sw/sw.ts): their contents'
// hash is in its cache's name, so a build that changes them changes sw.js, and the browser
// installs it again (fresh copies; the old cache goes)
const versionHash = createHash("sha256");
for (const f of sealWorkers.outputFiles) versionHash.update(f.contents);
const sealWorkersVersion = versionHash.digest("hex").slice(0, 16);

const sw = await esbuild.build({
  ...common,
  // sw-seal: the service worker's sealed part (age, keys), a classic script sw.js loads with
  // importScripts (a service worker cannot import() a chunk); its own budget
  entryPoints: { sw: path.join(web, "sw", "sw.ts"), "sw-seal": path.join(web, "sw", "seal.ts") },
  tsconfig: path.join(web, "sw", "tsconfig.json"),
  define: { ...common.define, __SEAL_WORKERS_VERSION__: JSON.stringify(sealWorkersVersion) },
  // age-encryption's ChaCha20-Poly1305 in /sw-seal.js: libsodium's (/seal-aead.js) once loaded
  plugins: [wasmChacha],
  format: "iife",
  outdir: out,
});

// chunks of earlier builds go (their names carry a hash); files not made here stay
const chunkDir = path.join(out, "chunks");
const fresh = new Set(app.outputFiles.map((f) => path.relative(out, f.path)));
if (existsSync(chunkDir)) {
  for (const name of readdirSync(chunkDir)) if (!fresh.has(`chunks/${name}`)) rmSync(path.join(chunkDir, name), { force: true });
}
for (const f of [...app.outputFiles, ...sw.outputFiles, ...sealWorkers.outputFiles]) put(path.relative(out, f.path), f.contents);

// one file per language, fetched only by visitors who read it (and cached by the service worker);
// catalogs of earlier builds whose file is gone from web/i18n/ go too
const i18nOut = path.join(out, "i18n");
const catalogFiles = new Map([...languages, PSEUDO].map((tag) => [`${tag}.json`, JSON.stringify(compiledCatalog(catalogs, tag))]));
if (existsSync(i18nOut)) {
  for (const name of readdirSync(i18nOut)) if (!catalogFiles.has(name)) rmSync(path.join(i18nOut, name), { force: true });
}
for (const [name, json] of catalogFiles) put(`i18n/${name}`, json);

put("index.html", readFileSync(path.join(web, "index.html")));
put("manifest.webmanifest", JSON.stringify(manifest(), null, 2));
put("icons/icon.svg", iconSvg());
for (const [name, size, maskable] of [
  ["icon-192.png", 192, false],
  ["icon-512.png", 512, false],
  ["maskable-512.png", 512, true],
  ["apple-touch-icon.png", 180, true],
  ["favicon-32.png", 32, false],
  ["badge-96.png", 96, "badge"],
]) {
  put(`icons/${name}`, png(size, maskable));
}

// what a first visit loads: the entry and the chunks it imports statically (not dynamic ones)
const meta = app.metafile.outputs;
const entry = Object.keys(meta).find((k) => meta[k].entryPoint?.endsWith("app.ts"));
const firstLoad = new Set();
(function walk(k) {
  if (firstLoad.has(k)) return;
  firstLoad.add(k);
  for (const imp of meta[k].imports) if (imp.kind === "import-statement") walk(imp.path);
})(entry);
let raw = 0;
let gz = 0;
for (const k of firstLoad) {
  const bytes = readFileSync(path.join(root, k));
  raw += bytes.length;
  gz += gzipSync(bytes).length;
}
const lazy = Object.keys(meta).filter((k) => k.endsWith(".js") && !firstLoad.has(k));
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const gzOf = (bytes) => gzipSync(bytes).length;
const over = [];
const check = (what, size, budget) => {
  if (size > budget) over.push(`${what}: ${kb(size)} gzipped, over its budget of ${kb(budget)}`);
  return `${kb(size)} gz`;
};
const swOut = (name) => sw.outputFiles.find((f) => path.basename(f.path) === name).contents;
const swGz = gzOf(swOut("sw.js"));
console.log(
  `[build-web] public/: first load ${kb(raw)} of JavaScript (${kb(gz)} gzipped), service worker ${kb(swOut("sw.js").length)} (+ sw-seal.js ${kb(swOut("sw-seal.js").length)})` +
    (lazy.length ? `, loaded on demand: ${lazy.map((k) => `${path.basename(k)} ${kb(meta[k].bytes)}`).join(", ")}` : ""),
);
// budgets, one line each: the shell, every lazy chunk, the service worker, every catalog
console.log(`[build-web] budget: shell JS ${check("first load JavaScript", gz, BUDGET.shell)} (${gz} bytes) of ${kb(BUDGET.shell)}`);
for (const k of lazy) console.log(`[build-web] budget: lazy ${path.basename(k)} ${check(path.basename(k), gzOf(readFileSync(path.join(root, k))), BUDGET.lazy)} of ${kb(BUDGET.lazy)}`);
console.log(`[build-web] budget: service worker ${check("sw.js", swGz, BUDGET.sw)} of ${kb(BUDGET.sw)}`);
console.log(`[build-web] budget: service worker's sealed part ${check("sw-seal.js", gzOf(swOut("sw-seal.js")), BUDGET.swSeal)} of ${kb(BUDGET.swSeal)}`);
for (const f of sealWorkers.outputFiles) {
  const name = path.basename(f.path);
  const budget = name === "seal-aead.js" ? BUDGET.sealAead : BUDGET.sealWorker;
  console.log(`[build-web] budget: sealing worker ${name} ${check(name, gzOf(f.contents), budget)} of ${kb(budget)}`);
}
console.log(
  `[build-web] budget: catalogs (each of ${kb(BUDGET.catalog)}): ` +
    [...catalogFiles].map(([name, json]) => `${name} ${check(`i18n/${name}`, gzOf(Buffer.from(json)), BUDGET.catalog)}`).join(", ") +
    (missing ? ` (${missing} strings missing from translations, shown in English: see test/cli/i18n.test.ts)` : ""),
);
if (over.length) {
  console.error(`[build-web] over budget:\n  ${over.join("\n  ")}`);
  process.exit(1);
}

function manifest() {
  return {
    name: catalogs[SOURCE]["manifest.name"],
    short_name: catalogs[SOURCE]["manifest.name"],
    description: catalogs[SOURCE]["manifest.description"],
    lang: SOURCE,
    dir: "ltr",
    id: "/",
    start_url: "/",
    scope: "/",
    display: "standalone",
    background_color: BACKGROUND,
    theme_color: THEME,
    icons: [
      { src: "/icons/icon-192.png", sizes: "192x192", type: "image/png", purpose: "any" },
      { src: "/icons/icon-512.png", sizes: "512x512", type: "image/png", purpose: "any" },
      { src: "/icons/maskable-512.png", sizes: "512x512", type: "image/png", purpose: "maskable" },
      { src: "/icons/icon.svg", sizes: "any", type: "image/svg+xml", purpose: "any" },
    ],
    // Share → pushdrop: the service worker takes the POST and opens the send form filled in
    share_target: {
      action: "/share",
      method: "POST",
      enctype: "multipart/form-data",
      params: { title: "title", text: "text", url: "url", files: [{ name: "files", accept: ["*/*"] }] },
    },
    // the name and description in each catalog's language (the spec's *_localized members, read
    // by browsers that implement them; the direction by script, as the app's languages.ts does)
    ...manifestLocalized(catalogs),
  };
}

function iconSvg() {
  const pts = (p) => p.map(([x, y]) => `${x * 100},${y * 100}`).join(" ");
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 100 100">` +
    `<rect width="100" height="100" rx="22" fill="${THEME}"/>` +
    `<polygon points="${pts(ARROW)}" fill="#fff"/><polygon points="${pts(TRAY)}" fill="#fff"/></svg>\n`
  );
}

function inside(poly, x, y) {
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) c = !c;
  }
  return c;
}

function inRoundedSquare(x, y, r) {
  const cx = Math.min(Math.max(x, r), 1 - r);
  const cy = Math.min(Math.max(y, r), 1 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}

/** An RGBA PNG of the icon; maskable: full bleed, shapes shrunk into the safe zone; "badge": white shapes on transparent. */
function png(size, mode) {
  const [tr, tg, tb] = [1, 3, 5].map((i) => parseInt(THEME.slice(i, i + 2), 16));
  const S = 4; // samples per axis
  const rows = [];
  for (let py = 0; py < size; py++) {
    const row = Buffer.alloc(1 + size * 4);
    for (let px = 0; px < size; px++) {
      let bg = 0;
      let fg = 0;
      for (let sy = 0; sy < S; sy++) {
        for (let sx = 0; sx < S; sx++) {
          let x = (px + (sx + 0.5) / S) / size;
          let y = (py + (sy + 0.5) / S) / size;
          const inBg = mode === true ? true : mode === "badge" ? false : inRoundedSquare(x, y, 0.22);
          if (mode === true) {
            x = 0.5 + (x - 0.5) / 0.8;
            y = 0.5 + (y - 0.5) / 0.8;
          }
          const inFg = inside(ARROW, x, y) || inside(TRAY, x, y);
          if (inFg) fg++;
          else if (inBg) bg++;
        }
      }
      const n = S * S;
      const a = (fg + bg) / n;
      const o = 1 + px * 4;
      if (a > 0) {
        // white over the theme colour, by coverage
        const w = fg / (fg + bg);
        row[o] = Math.round(tr + (255 - tr) * w);
        row[o + 1] = Math.round(tg + (255 - tg) * w);
        row[o + 2] = Math.round(tb + (255 - tb) * w);
        row[o + 3] = Math.round(a * 255);
      }
    }
    rows.push(row);
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}
