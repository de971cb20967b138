#!/usr/bin/env node
// Started by scripts/start.mjs, in a process group of its own, with a pipe from npm start as
// its stdin. It reads process-group ids (one per line) and, once the pipe ends, because npm
// start exited or was killed, even by SIGKILL of its whole group, it stops those groups:
// SIGTERM, then SIGKILL after a grace period. So nothing npm start started keeps running
// (wrangler dev and its workerd run in a group of their own and would outlive it).
const GRACE_MS = 5000;
const groups = new Set();
let buf = "";
let done = false;

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buf += chunk;
  for (let i = buf.indexOf("\n"); i >= 0; i = buf.indexOf("\n")) {
    const line = buf.slice(0, i).trim();
    buf = buf.slice(i + 1);
    if (/^\d+$/.test(line)) groups.add(Number(line));
  }
});
for (const event of ["end", "close", "error"]) process.stdin.on(event, () => void stopAll());

function alive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return e.code === "EPERM";
  }
}

function signal(pgid, sig) {
  try {
    process.kill(-pgid, sig);
  } catch {}
}

async function stopAll() {
  if (done) return;
  done = true;
  const left = [...groups].filter(alive);
  for (const g of left) signal(g, "SIGTERM");
  const deadline = Date.now() + GRACE_MS;
  while (left.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const g of left.filter(alive)) signal(g, "SIGKILL");
  process.exit(0);
}
