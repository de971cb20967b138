#!/usr/bin/env node
// `npm run bench`: upload, packaging and download under `npm start` (wrangler dev, local R2),
// against a bare R2 worker (test/bench/baseline) on the same wrangler, in the same run.
// For each size, one file goes up in 16 MiB parts, is packaged (pushdrop: the queue consumer;
// baseline: a plain copy into 8 MiB multipart parts) and is downloaded whole. The resident
// memory of each server's workerd processes is sampled every 25 ms, per phase.
// Writes BENCHMARKS.md. Env: BENCH_SIZES_MIB (default "100,1024"), BENCH_RUNS (default 3).
import { execSync, spawn } from "node:child_process";
import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir, totalmem } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import WebSocket from "ws";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MiB = 1024 * 1024;
const sizes = (process.env.BENCH_SIZES_MIB || "100,1024").split(",").map(Number);
const runs = Number(process.env.BENCH_RUNS || 3);
const PART = 16 * MiB;
const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "true" };

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

/** The workerd processes below `pid` (wrangler's runtime; they stay the same while it runs). */
function workerdPids(pid) {
  const children = new Map();
  for (const p of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const ppid = Number(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1].split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) || []), Number(p)]);
    } catch {}
  }
  const found = [];
  for (const stack = [pid]; stack.length; ) {
    const p = stack.pop();
    stack.push(...(children.get(p) || []));
    try {
      if (/^Name:\s*workerd/m.test(readFileSync(`/proc/${p}/status`, "utf8"))) found.push(p);
    } catch {}
  }
  return found;
}

/** Sum of VmRSS over `pids`, in bytes. */
function rss(pids) {
  let kb = 0;
  for (const p of pids) {
    try {
      kb += Number(/VmRSS:\s*(\d+)/.exec(readFileSync(`/proc/${p}/status`, "utf8"))?.[1] || 0);
    } catch {}
  }
  return kb * 1024;
}

/**
 * Starts a server (the command `args(port, state)`; PORT and PUSHDROP_STATE are also in its
 * environment), waits until `readyPath` answers, and samples its memory.
 */
async function start(name, args, readyPath, extraEnv = {}) {
  const port = await freePort();
  const state = mkdtempSync(path.join(tmpdir(), `pushdrop-bench-${name}-`));
  const [cmd, ...rest] = args(port, state);
  const child = spawn(cmd, rest, {
    cwd: root,
    env: { ...env, PORT: String(port), PUSHDROP_STATE: state, ...extraEnv }, // (npm start reads these)
    // each server's output goes to a log file beside its state, kept if the bench fails
    stdio: ["ignore", openSync(`${state}.log`, "w"), openSync(`${state}.log`, "a")],
    detached: true,
  });
  const exited = new Promise((r) => child.once("exit", r));
  const base = `http://127.0.0.1:${port}`;
  console.log(`${name}: ${base} (log: ${state}.log)`);
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(base + readyPath)).status < 500) break;
    } catch {}
    if (i > 400) throw new Error(`${name} did not start`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // per-phase peaks of resident memory
  const pids = workerdPids(child.pid);
  const peaks = {};
  let phase = "idle";
  const timer = setInterval(() => (peaks[phase] = Math.max(peaks[phase] ?? 0, rss(pids))), 25);
  return {
    base,
    /** enters phase `p`; returns the resident memory at its start */
    phase(p) {
      phase = p;
      return (peaks[p] = rss(pids));
    },
    peak: (p) => peaks[p],
    async stop() {
      clearInterval(timer);
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {}
      const done = await Promise.race([exited.then(() => true), new Promise((r) => setTimeout(() => r(false), 10_000))]);
      if (!done) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {}
      }
      rmSync(state, { recursive: true, force: true });
      rmSync(`${state}.log`, { force: true });
    },
  };
}

const block = new Uint8Array(PART);
for (let i = 0; i < block.length; i += 4096) block[i] = (i / 4096) & 0xff;
const partBody = (size, n) => {
  block[0] = n & 0xff;
  return block.subarray(0, Math.min(PART, size - (n - 1) * PART));
};
const parts = (size) => Math.ceil(size / PART);

/** A response that must have `status`; its body is returned parsed (JSON) or as text. */
async function expectStatus(res, status, what) {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${text.slice(0, 300)}`);
  return res.headers.get("content-type")?.startsWith("application/json") ? JSON.parse(text) : text;
}

async function drain(res) {
  let got = 0;
  for await (const chunk of res.body) got += chunk.length;
  return got;
}

/** One run through pushdrop's public API. */
async function pushdropRun(s, who, size) {
  const auth = { authorization: `Bearer ${who.a.token}` };
  const t = await expectStatus(
    await fetch(`${s.base}/v1/transfers`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ to: [who.b.id], files: [{ name: "big.bin", size, type: "application/octet-stream" }] }),
    }),
    201,
    "create",
  );
  const f = t.files[0];
  const ready = new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.base.replace(/^http/, "ws")}/v1/terminals/${who.b.id}/socket?token=${encodeURIComponent(who.b.token)}`);
    ws.on("message", (data) => {
      const m = JSON.parse(data.toString());
      if (m.id) ws.send(JSON.stringify({ type: "ack", id: m.id }));
      if (m.type === "transfer.ready" && m.transfer.id === t.id) {
        ws.close();
        resolve();
      }
    });
    ws.on("error", reject);
    setTimeout(() => reject(new Error("no transfer.ready within 10 minutes")), 600_000).unref();
  });
  s.phase("upload");
  const t0 = performance.now();
  for (let n = 1; n <= f.parts; n++) {
    await expectStatus(await fetch(`${f.uploadUrl}?part=${n}`, { method: "PUT", headers: auth, body: partBody(size, n) }), 200, `part ${n}`);
  }
  const t1 = performance.now();
  s.phase("package");
  // packaging ends when the recipient's live socket gets transfer.ready (what a receiver sees);
  // polling GET /v1/transfers/{id} instead stalls under wrangler dev while a large package is
  // read from the local R2 (the bare worker's requests stall the same way during its copy)
  await ready;
  const t2 = performance.now();
  s.phase("download");
  const got = await drain(await fetch(`${s.base}/v1/transfers/${t.id}/package`, { headers: { authorization: `Bearer ${who.b.token}` } }));
  const t3 = performance.now();
  if (got < size) throw new Error(`download: ${got} of at least ${size} bytes`);
  await expectStatus(await fetch(`${s.base}/v1/transfers/${t.id}`, { method: "DELETE", headers: auth }), 204, "delete");
  return { t0, t1, t2, t3, got };
}

/** The same job on the bare R2 worker. */
async function baselineRun(s, size, key) {
  const id = await expectStatus(await fetch(`${s.base}/start/${key}`, { method: "POST" }), 200, "start");
  const upload = `${s.base}/obj/${key}?upload=${encodeURIComponent(id)}`;
  s.phase("upload");
  const t0 = performance.now();
  const done = [];
  for (let n = 1; n <= parts(size); n++) {
    done.push(await expectStatus(await fetch(`${upload}&part=${n}`, { method: "PUT", body: partBody(size, n) }), 200, `part ${n}`));
  }
  await expectStatus(await fetch(`${s.base}/complete/${key}?upload=${encodeURIComponent(id)}`, { method: "POST", body: JSON.stringify(done) }), 200, "complete");
  const t1 = performance.now();
  s.phase("package");
  await expectStatus(await fetch(`${s.base}/copy/${key}`, { method: "POST" }), 200, "copy");
  const t2 = performance.now();
  s.phase("download");
  const got = await drain(await fetch(`${s.base}/obj/${key}.copy`));
  const t3 = performance.now();
  if (got !== size) throw new Error(`baseline download: ${got} of ${size} bytes`);
  await expectStatus(await fetch(`${s.base}/obj/${key}`, { method: "DELETE" }), 200, "delete");
  return { t0, t1, t2, t3, got };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
  const baseline = await start(
    "baseline",
    (port, state) => [wrangler, "dev", "--config", "test/bench/baseline/wrangler.toml", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", state],
    "/obj/none",
  );
  // (the expiry sweep would only add noise: once a day)
  const pushdrop = await start("pushdrop", () => ["node", "scripts/start.mjs"], "/v1/push/vapid-public-key", {
    PUSHDROP_SWEEP_SECONDS: "86400",
  });
  const reg = async () => expectStatus(await fetch(`${pushdrop.base}/v1/terminals`, { method: "POST" }), 201, "register");
  const who = { a: await reg(), b: await reg() };
  const rows = [];
  try {
    for (const mib of sizes) {
      const size = mib * MiB + 123;
      for (const [name, s, run] of [
        ["bare R2 worker", baseline, (i) => baselineRun(baseline, size, `f${mib}-${i}`)],
        ["pushdrop", pushdrop, () => pushdropRun(pushdrop, who, size)],
      ]) {
        const results = [];
        for (let i = 0; i < runs; i++) {
          const before = s.phase("idle");
          const r = await run(i);
          results.push({
            upload: size / MiB / ((r.t1 - r.t0) / 1000),
            packS: (r.t2 - r.t1) / 1000,
            download: r.got / MiB / ((r.t3 - r.t2) / 1000),
            before: before / MiB,
            growPackage: (s.peak("package") - before) / MiB,
            peak: Math.max(s.peak("upload"), s.peak("package"), s.peak("download")) / MiB,
          });
          console.log(`${name} ${mib} MiB run ${i + 1}: ${JSON.stringify(results.at(-1))}`);
        }
        rows.push({ name, mib, ...Object.fromEntries(Object.keys(results[0]).map((k) => [k, median(results.map((x) => x[k]))])) });
      }
    }
  } finally {
    await pushdrop.stop();
    await baseline.stop();
  }
  const f = (n, d = 1) => n.toFixed(d);
  const version = execSync(`${wrangler} --version`, { env }).toString().trim().split("\n").pop();
  const md = [
    "# Benchmarks",
    "",
    `Machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM; Node ${process.version}; wrangler ${version}`,
    "(local workerd with local R2, D1, Queues and Durable Objects: `wrangler dev`, not Cloudflare's network).",
    `Command: \`npm run bench\` (BENCH_SIZES_MIB=${sizes.join(",")}, BENCH_RUNS=${runs}); medians of ${runs} runs; ${new Date().toISOString().slice(0, 10)}.`,
    "",
    "One file goes up in 16 MiB parts, is packaged, and is downloaded whole, through pushdrop's",
    "public API (`npm start`) and through a bare R2 worker on the same wrangler in the same run",
    "(`test/bench/baseline`: multipart parts in, a plain copy into 8 MiB multipart parts as its",
    "\"packaging\", a plain GET out). Memory is the resident size of each server's workerd",
    "processes, sampled every 25 ms. Packaging time for pushdrop ends when the recipient's",
    "WebSocket gets `transfer.ready`.",
    "",
    "| file | server | upload MB/s | packaging s | download MB/s | RSS before | RSS growth while packaging | RSS peak |",
    "|---|---|---|---|---|---|---|---|",
    ...rows.map(
      (r) =>
        `| ${r.mib} MiB | ${r.name} | ${f(r.upload)} | ${f(r.packS, 2)} | ${f(r.download)} | ${f(r.before, 0)} MiB | ${f(r.growPackage, 0)} MiB | ${f(r.peak, 0)} MiB |`,
    ),
    "",
  ].join("\n");
  writeFileSync(path.join(root, "BENCHMARKS.md"), md + NOTES);
  console.log(md);
}

const NOTES = `
## Reading these numbers

- Upload and download run at about half the bare worker's rate. Both count every byte in a
  JavaScript \`TransformStream\` (uploads: to refuse an overrun and to never complete a file
  from a short body; downloads: to know which prefix a recipient got, for the receipt),
  which costs one JS call per chunk. Left for the performance issue: an
  \`IdentityTransformStream\`/\`FixedLengthStream\`-only path where the length is known.
- Locally, reading an R2 object that was assembled from multipart parts is what costs time and
  memory: the bare worker's plain copy of such an object grows workerd's resident size by
  hundreds of MiB for 1 GiB, with no pushdrop code involved. Compare pushdrop's packaging with
  that row, not with zero: the difference is what the ZIP writer, CRC-32 and SHA-256 cost.
- workerd keeps memory it has grown to: the first run of a size grows RSS most (at 1 GiB
  here: the bare worker by 415 MiB, pushdrop by 466 MiB) and later runs reuse it, so the
  medians above mostly show later runs. The per-run numbers are printed by the bench.
- The packager itself holds at most about two 8 MiB package parts plus one read chunk
  (src/package/zip.ts); it never buffers a file.
- Under \`wrangler dev\`, while a worker reads a large multipart object from the local R2, other
  HTTP requests to that worker wait (the bare worker's too: a GET sent during its 1 GiB copy
  took as long as the copy). Clients should learn of \`transfer.ready\` from the socket (or Web
  Push), as the bench does, rather than by polling.
- Not yet measured here (the performance issue): notification latency, fan-out to 100
  recipients, sockets per terminal, and sizes past 4 GiB (ZIP64).
`;

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
