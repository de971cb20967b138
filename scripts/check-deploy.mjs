#!/usr/bin/env node
// `npm run check:deploy` (part of `npm test`): bundles the Worker exactly as `wrangler deploy`
// would (`--dry-run --outdir`, no account or network needed) so that a bundle that would not
// deploy fails here, not in production: a build error, a bundle over the size limit, or an
// import that only exists locally (a `cloudflare:` module other than the runtime's own).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { experimental_readRawConfig } from "wrangler";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const out = mkdtempSync(path.join(tmpdir(), "pushdrop-deploy-"));
const MAX_GZIP_KIB = 10 * 1024; // Workers Paid: 10 MiB after compression (Free: 3 MiB)
const RUNTIME_MODULES = new Set(["cloudflare:workers", "cloudflare:sockets", "cloudflare:email", "cloudflare:node"]);

function fail(msg) {
  console.error(`[check:deploy] ${msg}`);
  rmSync(out, { recursive: true, force: true });
  process.exit(1);
}

try {
  const run = spawnSync(path.join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", out], {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "true" },
  });
  const log = `${run.stdout}${run.stderr}`;
  if (run.status !== 0) fail(`wrangler deploy --dry-run failed:\n${log}`);
  const size = /Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/.exec(log);
  if (!size) fail(`could not read the bundle size from:\n${log}`);
  const gzip = Number(size[2]);
  if (gzip > MAX_GZIP_KIB) fail(`the bundle is ${gzip} KiB gzipped; Workers take at most ${MAX_GZIP_KIB} KiB`);
  const bundle = readFileSync(path.join(out, "index.js"), "utf8");
  const foreign = [...new Set([...bundle.matchAll(/(?:from|import\()\s*["'](cloudflare:[\w-]+)["']/g)].map((m) => m[1]))].filter((m) => !RUNTIME_MODULES.has(m));
  if (foreign.length > 0) fail(`the bundle imports modules that exist only locally: ${foreign.join(", ")}`);
  console.log(`[check:deploy] ok: ${size[1]} KiB, ${gzip} KiB gzipped`);
  for (const w of publicUrlWarnings(configuredPublicUrl())) console.warn(`[check:deploy] warning: ${w}`);
} finally {
  rmSync(out, { recursive: true, force: true });
}

/**
 * PUBLIC_URL as the bundle would deploy with it: the `[vars]` value in wrangler.toml, read by
 * wrangler's own config reader (not from the dry run's listing, which shortens long values).
 */
function configuredPublicUrl() {
  const { rawConfig } = experimental_readRawConfig({ config: path.join(root, "wrangler.toml") });
  const value = rawConfig.vars?.PUBLIC_URL;
  return typeof value === "string" ? value : "";
}

/**
 * Unset, every link points at the origin of the request that asked for it (a Host header a
 * client sends) and pushed messages at the origin each terminal last used: safe (no client
 * chooses another's links) but not what a service behind its own hostname wants.
 */
function publicUrlWarnings(value) {
  if (value === "") {
    return [
      "PUBLIC_URL is not set: links will point at the origin each request came in at (its Host header), and those in socket and push messages at the origin each terminal last used. Set PUBLIC_URL in wrangler.toml [vars] to the service's public origin, e.g. https://drop.example.com.",
    ];
  }
  let url;
  try {
    url = new URL(value);
  } catch {
    return [`PUBLIC_URL (${value}) is not a URL: set it to the service's public origin, e.g. https://drop.example.com.`];
  }
  const out = [];
  if (url.protocol !== "https:") out.push(`PUBLIC_URL (${value}) is not https: links would send signed download URLs in the clear.`);
  if (url.pathname.replace(/\/+$/, "") !== "" || url.search || url.hash) out.push(`PUBLIC_URL (${value}) has a path or query: links are made as PUBLIC_URL + "/v1/…", so give only the origin.`);
  return out;
}
