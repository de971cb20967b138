#!/usr/bin/env node
// `npm start`: everything a newcomer needs, with no account and no network.
//  1. local dev secrets in .dev.vars (signing key, VAPID keys) if missing;
//  2. local D1 migrations applied;
//  3. `wrangler dev` with local R2, D1, Queues and Durable Objects on 127.0.0.1:$PORT;
//  4. the cron trigger driven by hand (crons never fire under `wrangler dev`): the
//     scheduled handler runs every $PUSHDROP_SWEEP_SECONDS (default 15) via /__scheduled;
//  5. a watchdog (scripts/watchdog.mjs) that stops wrangler dev if this process dies.
// Env: PORT (8787), PUSHDROP_STATE (.wrangler/state), PUSHDROP_SWEEP_SECONDS (15),
// PUSHDROP_INSPECTOR_PORT (wrangler's devtools inspector; default: a free port); and,
// passed through to the worker as [vars]: PUSH_ENDPOINT_HOSTS and the LIMIT_* limits.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDevVars } from "./dev-secrets.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const port = Number(process.env.PORT || 8787);
const state = path.resolve(root, process.env.PUSHDROP_STATE || ".wrangler/state");
const sweepSeconds = Number(process.env.PUSHDROP_SWEEP_SECONDS || 15);
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const askedInspector = process.env.PUSHDROP_INSPECTOR_PORT;
if (askedInspector && !/^\d+$/.test(askedInspector)) {
  console.error(`[pushdrop] PUSHDROP_INSPECTOR_PORT must be a port number, not ${JSON.stringify(askedInspector)}`);
  process.exit(1);
}
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  CI: process.env.CI ?? "true",
};
const log = (msg) => console.log(`[pushdrop] ${msg}`);

// patches/wrangler+4.86.0.patch (applied by `npm ci` through patch-package) keeps wrangler dev's
// proxy from hanging a GET or answering 503 when its pooled connection to the worker was reset
const proxyWorker = path.join(root, "node_modules", "wrangler", "wrangler-dist", "ProxyWorker.js");
if (!existsSync(proxyWorker)) {
  console.error("[pushdrop] node_modules is missing or incomplete: run `npm ci` first");
  process.exit(1);
}
if (!readFileSync(proxyWorker, "utf8").includes("Backport of workers-sdk#15252")) {
  log("warning: wrangler's dev proxy is unpatched (run `npm ci`); a request may hang or get a 503 after a long one");
}

const { added } = ensureDevVars(path.join(root, ".dev.vars"));
if (added.length) log(`wrote dev secrets to .dev.vars: ${added.join(", ")}`);

log(`applying D1 migrations (state in ${path.relative(root, state) || "."})`);
const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state], {
  cwd: root,
  env,
  stdio: ["ignore", "pipe", "pipe"],
  encoding: "utf8",
});
if (migrate.status !== 0) {
  process.stderr.write(migrate.stdout + migrate.stderr);
  process.exit(migrate.status ?? 1);
}

// [vars] an operator (or a test) may set from the environment, overriding wrangler.toml
const PASSED_VARS = [
  "PUSH_ENDPOINT_HOSTS",
  "LIMIT_FILE_BYTES",
  "LIMIT_TRANSFER_BYTES",
  "LIMIT_FILES_PER_TRANSFER",
  "LIMIT_PENDING_BYTES_PER_RECIPIENT",
  "LIMIT_PENDING_BYTES_PER_SENDER",
  "LIMIT_TRANSFERS_PER_SENDER_HOUR",
  "LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR",
  "LIMIT_REQUESTS_PER_TERMINAL_MINUTE",
  "LIMIT_REQUESTS_PER_ADDRESS_MINUTE",
];
const varArgs = PASSED_VARS.filter((name) => process.env[name] !== undefined).flatMap((name) => ["--var", `${name}:${process.env[name]}`]);

// The watchdog stops wrangler's process group once this process is gone, however it went
// (a SIGKILL of npm start's group would otherwise leave wrangler and workerd running, still
// holding the port). It learns the group through a pipe that closes when we die.
const watchdog = spawn(process.execPath, [path.join(root, "scripts", "watchdog.mjs")], {
  stdio: ["pipe", "ignore", "ignore"],
  detached: true,
});
watchdog.unref();
watchdog.stdin.on("error", () => {});

/** A port that is free on 127.0.0.1, as the system picks it. */
const freePort = () =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
// wrangler's devtools inspector: PUSHDROP_INSPECTOR_PORT, or a free port the system picks.
// (wrangler's own default, 9229, made a second `npm start` on another PORT die with "Address
// already in use 127.0.0.1:9229", and two started at once could both check it free.)
const inspectorPort = Number(askedInspector) || (await freePort());
log(`devtools inspector on 127.0.0.1:${inspectorPort}`);

const dev = spawn(
  wrangler,
  ["dev", "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort), "--persist-to", state, "--test-scheduled", "--show-interactive-dev-session=false", ...varArgs],
  { cwd: root, env, stdio: "inherit", detached: true },
);

watchdog.stdin.write(`${dev.pid}\n`);

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  clearInterval(timer);
  try {
    process.kill(-dev.pid, signal); // the whole group: wrangler and its workerd
  } catch {}
  setTimeout(() => {
    try {
      process.kill(-dev.pid, "SIGKILL");
    } catch {}
    process.exit(0);
  }, 5000).unref();
}
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => stop(sig));
// `npm start` killed (SIGTERM to npm) ends npm and its shell but not this process, which is
// handed to init: when the process that started this one is gone, stop as if told to.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) stop("SIGTERM");
}, 500).unref();
dev.on("exit", (code) => {
  clearInterval(timer);
  process.exit(stopping ? 0 : (code ?? 1));
});

const base = `http://127.0.0.1:${port}`;
async function sweep() {
  try {
    const res = await fetch(`${base}/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    await res.arrayBuffer();
  } catch {
    // not listening yet, or restarting
  }
}
const timer = setInterval(sweep, sweepSeconds * 1000);

(async () => {
  for (let i = 0; i < 600 && !stopping; i++) {
    try {
      const res = await fetch(`${base}/v1/push/vapid-public-key`);
      if (res.ok) {
        log(`ready on ${base} (expiry sweep every ${sweepSeconds}s)`);
        return sweep();
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
})();
