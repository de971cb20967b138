import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushdropClient, uploadFiles } from "../../client";
import { sha256 as sha } from "../node/support/bytes.ts";
import { freePort, ROOT, startServer, type Server } from "../node/support/server.ts";
import { BIN, childEnv, CountingProxy, makeUser, runCli, spawnCli, treeDigest, until, setUpStage, tearDownStage, type Stage, type User } from "./support/cli.ts";

/**
 * The real `pushdrop` command, run as child processes against `npm start`, each user with its
 * own HOME and XDG folders: a folder sent to a `listen --auto` terminal arrives byte for byte
 * and nowhere else; a send and a download killed half way resume without resending what the
 * server had; bars and QR code on a terminal, plain lines off one; exit codes and --json.
 */

const MiB = 1024 * 1024;
let server: Server;
let root: string;
let alice: User;
let bob: User;

const json = (s: string) => JSON.parse(s) as Record<string, any>;
const tokenOf = (u: User) => json(readFileSync(path.join(u.env.XDG_CONFIG_HOME!, "pushdrop", "config.json"), "utf8")).terminals[server.base].token as string;
/** The user's terminal, reached through a proxy (the stored one is for the server's own address). */
const through = (proxy: CountingProxy, u: User) => ({ PUSHDROP_SERVER: proxy.base, PUSHDROP_ID: u.id!, PUSHDROP_TOKEN: tokenOf(u) });

const stage: Stage = { users: [] };
beforeAll(async () => {
  await setUpStage(stage, "pushdrop-cli-", ["alice", "bob"]);
  ({ server, root } = stage as Required<Stage>);
  [alice, bob] = stage.users as [User, User];
});
afterAll(() => tearDownStage(stage));

describe("pushdrop register / whoami", () => {
  it("keeps the token in a file only its owner can read, and never prints it", async () => {
    const file = path.join(alice.env.XDG_CONFIG_HOME!, "pushdrop", "config.json");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const token = tokenOf(alice);
    expect(token).toMatch(/^pd_/);
    const who = await runCli(alice, ["whoami", "--json"]);
    expect(who.code).toBe(0);
    expect(json(who.stdout)).toMatchObject({ id: alice.id, name: "alice", server: server.base, shareUrl: `${server.base}/?to=${alice.id}#k=${json(who.stdout).key}` });
    const plain = await runCli(alice, ["whoami"]);
    expect(`${who.stdout}${who.stderr}${plain.stdout}${plain.stderr}`).not.toContain(token);
    // registering again would orphan the id: refused unless --force
    const again = await runCli(alice, ["register"]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain("--force");
  });
});

describe("pushdrop send → listen --auto", () => {
  it("delivers a folder (a file over 192 MiB, in 64 MiB parts; nested folders, non-ASCII names) byte for byte, and writes nothing outside --dir", async () => {
    const src = path.join(root, "src-tree");
    const tree = path.join(src, "holiday");
    mkdirSync(path.join(tree, "día 1", "写真"), { recursive: true });
    writeFileSync(path.join(tree, "big.bin"), randomBytes(200 * MiB + 7));
    writeFileSync(path.join(tree, "día 1", "notes — ünïcode ✓.txt"), "grüße\n");
    writeFileSync(path.join(tree, "día 1", "写真", "😀.txt"), "smile");
    writeFileSync(path.join(tree, "empty"), "");

    const inbox = path.join(root, "bob-inbox");
    const D = path.join(inbox, "D");
    const listen = spawnCli(bob, ["listen", "--auto", "--once", "--json", "--dir", D]);
    await until(() => listen.stdout().includes('"listening"'), 30_000, "listen to connect");

    const sent = await runCli(alice, ["send", "--plain", "--to", bob.id!, tree, "--message", "from the trip"]); // --to before a path takes one id
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toMatch(/^[A-Za-z0-9_-]{22}\n$/); // the transfer id, alone on stdout
    expect(sent.stderr).not.toMatch(/[\r\u001b]/); // off a terminal: plain lines
    expect(sent.stderr).toContain("sent holiday/big.bin (210 MB)");
    const big = (await new PushdropClient({ server: server.base, token: tokenOf(alice) }).transfer(sent.stdout.trim())).files.find((f) => f.name === "holiday/big.bin")!;
    expect([big.partSize, big.parts]).toEqual([64 * MiB, 4]);

    const done = await listen.done;
    expect(done.code, done.stderr).toBe(0);
    const events = done.stdout.trim().split("\n").map(json);
    const saved = events.find((e) => e.event === "saved")!;
    expect(saved).toMatchObject({ transferId: sent.stdout.trim(), message: "from the trip", dir: D });
    expect(saved.files).toHaveLength(4);

    expect(treeDigest(path.join(D, "holiday"))).toEqual(treeDigest(tree));
    expect(readdirSync(D)).toEqual(["holiday"]); // no package or part file left behind
    expect(readdirSync(inbox)).toEqual(["D"]);
    expect(readdirSync(bob.home)).toEqual([".config"]);
    expect(readdirSync(root).sort()).toEqual(["alice", "bob", "bob-inbox", "src-tree"]);
  });
});

describe("resuming", () => {
  it("a send killed with SIGKILL half way, run again, sends no part the server had and completes with the right sha256", async () => {
    const proxy = await CountingProxy.start(server.base);
    try {
      const small = path.join(root, "small.txt");
      writeFileSync(small, "whole before the kill\n");
      const file = path.join(root, "resume-me.bin");
      const bytes = randomBytes(64 * MiB + 11); // 5 parts of 16 MiB
      writeFileSync(file, bytes);
      const via = through(proxy, alice);
      const args = ["send", "--plain", small, file, "--to", bob.id!, "--message", "resume me"];
      const isPart = (s: { method: string; url: string }) => s.method === "PUT" && /\/files\/1\?part=\d+$/.test(s.url);
      const partOf = (url: string) => Number(/part=(\d+)/.exec(url)![1]);

      const first = spawnCli(alice, args, { env: via });
      let ok = 0;
      let smallIn = false;
      proxy.onResponse = (s) => {
        if (s.method === "PUT" && /\/files\/0$/.test(s.url) && s.status === 200) smallIn = true;
        if (isPart(s) && s.status === 200) ok++;
        if (ok >= 2 && smallIn && first.child.exitCode === null && !first.child.killed) first.child.kill("SIGKILL");
      };
      const killed = await first.done;
      expect(killed.signal, `${killed.code} ${killed.stderr}`).toBe("SIGKILL");
      proxy.onResponse = null;
      // (a request whose body was whole when the command died is left to get its answer; on a
      // loaded machine that has taken over 30 s: the message names what is still open)
      await until(() => proxy.open === 0, 90_000, () => `the cut requests to end (${proxy.stillOpen()})`);

      // what the server had when the command died (every request it was still reading has ended)
      const pending = readdirSync(path.join(alice.env.XDG_STATE_HOME!, "pushdrop", "sends"));
      expect(pending).toHaveLength(1);
      const transferId = pending[0]!.replace(/\.json$/, "");
      const client = new PushdropClient({ server: server.base, token: tokenOf(alice) });
      const mid = await client.transfer(transferId);
      expect(mid.status).toBe("uploading");
      expect(mid.files[0]!.received).toBe(mid.files[0]!.size); // small.txt was whole
      const had = mid.files[1]!.partsReceived;
      expect(had.length).toBeGreaterThanOrEqual(2);
      expect(had.length).toBeLessThan(5);
      const firstRun = proxy.seen.filter(isPart);
      expect(new Set(firstRun.filter((s) => s.status === 200).map((s) => partOf(s.url)))).toEqual(new Set(had));

      const second = await runCli(alice, args, { env: via });
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout.trim()).toBe(transferId);
      expect(second.stderr).toContain(`Resuming transfer ${transferId}`);
      // said as people say it, not as an ISO string; a file not sent again is not announced again
      expect(second.stderr).toMatch(new RegExp(`Resuming transfer ${transferId} \\(started \\d+ (s|min) ago, at [^)]+\\)`));
      expect(second.stderr).not.toMatch(/\d{4}-\d\d-\d\dT\d\d:/);
      expect(second.stderr).toContain("(1 of 2 files complete)");
      expect(second.stderr).not.toContain("sent small.txt");
      expect(second.stderr).toMatch(/^sent resume-me\.bin \(67\.1 MB\)$/m);
      const secondRun = proxy.seen.filter(isPart).slice(firstRun.length).map((s) => partOf(s.url));
      for (const n of had) expect(secondRun, `part ${n} was on the server already`).not.toContain(n);
      expect(new Set([...had, ...secondRun])).toEqual(new Set([1, 2, 3, 4, 5]));
      expect(secondRun).toHaveLength(new Set(secondRun).size);

      for (let t = await client.transfer(transferId); ; t = await client.transfer(transferId)) {
        if (t.status !== "packaging" && t.status !== "uploading") {
          expect(t.status).toBe("ready");
          expect(t.files[1]!.sha256).toBe(sha(bytes));
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(readdirSync(path.join(alice.env.XDG_STATE_HOME!, "pushdrop", "sends"))).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  it("a download killed half way, run again, asks with Range from what is on disk and finishes byte-identical", async () => {
    // a 160 MiB transfer from alice, uploaded through the API client. The server counts a download
    // once it has sent the last byte, into socket buffers it cannot see past; here TCP may grow each
    // receive buffer to 32 MiB (net.ipv4.tcp_rmem), so with the proxy between, some 70 MiB can be
    // on their way while the CLI has 20 (with 48 MiB the server was sometimes done before the cut)
    const aliceClient = new PushdropClient({ server: server.base, token: tokenOf(alice) });
    const bytes = randomBytes(160 * MiB + 3);
    const t = await aliceClient.createTransfer({ to: [bob.id!], files: [{ name: "film.bin", size: bytes.length }] });
    await uploadFiles(aliceClient, t, [new Blob([bytes])]);
    for (;;) {
      const now = await aliceClient.transfer(t.id);
      if (now.status === "ready") break;
      await new Promise((r) => setTimeout(r, 200));
    }

    const proxy = await CountingProxy.start(server.base);
    try {
      const D = path.join(root, "bob-downloads");
      const via = through(proxy, bob);
      const first = spawnCli(bob, ["get", t.id, "--dir", D], { env: via });
      proxy.cutAfter = { match: (s) => s.url.includes("/package"), bytes: 20 * MiB, then: () => first.child.kill("SIGKILL") };
      const killed = await first.done;
      expect(killed.signal, `${killed.code} ${killed.stderr}`).toBe("SIGKILL");
      await until(() => proxy.open === 0, 30_000, "the cut download to end");
      const part = readdirSync(D).find((n) => n.endsWith(".zip.part"))!;
      const onDisk = statSync(path.join(D, part)).size;
      expect(onDisk).toBeGreaterThan(0);
      expect(onDisk).toBeLessThan(bytes.length);

      // the cut download did not count as a delivery
      expect((await aliceClient.transfer(t.id)).recipients[0]!.downloadedAt).toBeNull();
      const before = proxy.seen.length;
      const secondAt = Date.now();
      const second = await runCli(bob, ["get", t.id, "--dir", D, "--json"], { env: via });
      expect(second.code, second.stderr).toBe(0);
      const gets = proxy.seen.slice(before).filter((s) => s.method === "GET" && s.url.includes("/package"));
      expect(gets.map((s) => [s.range, s.status])).toEqual([[`bytes=${onDisk}-`, 206]]);
      expect(json(second.stdout)).toMatchObject({ id: t.id, resumedFrom: onDisk });
      expect(sha(readFileSync(path.join(D, "film.bin")))).toBe(sha(bytes));
      expect(readdirSync(D)).toEqual(["film.bin"]);
      // a resumed download is a whole download: the sender has its receipt (recorded once the
      // response's last piece has gone out, which may be a moment after the CLI has it all)
      let after = await aliceClient.transfer(t.id);
      await until(async () => (after = await aliceClient.transfer(t.id)).recipients[0]!.downloadedAt !== null, 20_000, "the receipt");
      // recorded by the resumed run (not by the cut one, nor before it), and the transfer is delivered
      const at = Date.parse(after.recipients[0]!.downloadedAt!);
      expect(at).toBeGreaterThanOrEqual(secondAt - 1000); // (server and test share a clock; 1 s for rounding)
      expect(at).toBeLessThanOrEqual(Date.now());
      expect(after.status).toBe("delivered");
    } finally {
      await proxy.close();
    }
  });
});

describe("messages, receipts and inbox", () => {
  it("sends a message alone; --wait exits 0 once the recipient has it", async () => {
    const wait = spawnCli(alice, ["send", "--plain", "--to", bob.id!, "--message", "https://example.com/?q=1", "--wait", "--json"]);
    await until(() => wait.stderr().includes("Waiting until"), 30_000, "send --wait to wait");
    const inbox = await runCli(bob, ["inbox", "--json"]);
    const t = json(inbox.stdout).transfers.find((x: { message: string }) => x.message === "https://example.com/?q=1");
    expect(t).toBeDefined();
    const got = await runCli(bob, ["get", t.id]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe("https://example.com/?q=1\n");
    const done = await wait.done;
    expect(done.code, done.stderr).toBe(0);
    expect(json(done.stdout)).toMatchObject({ id: t.id, status: "delivered", delivered: [{ id: bob.id }] });

    // a message has no files: asking for one is the API's file_not_found (exit 3), not the message
    const none = await runCli(bob, ["get", t.id, "--file", "0", "--json"]);
    expect(none.code).toBe(3);
    expect(json(none.stdout).error.code).toBe("file_not_found");
  });

  it("get --file fetches one file alone (by name or by index) into --dir under its base name; a delivery once every file was fetched", async () => {
    const src = path.join(root, "src-one");
    mkdirSync(path.join(src, "sub"), { recursive: true });
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    writeFileSync(path.join(src, "a.bin"), a);
    writeFileSync(path.join(src, "sub", "b.bin"), b);
    const sent = await runCli(alice, ["send", "--plain", src, "--to", bob.id!, "--json"]);
    expect(sent.code, sent.stderr).toBe(0);
    const id = json(sent.stdout).id as string;
    const bobClient = new PushdropClient({ server: server.base, token: tokenOf(bob) });
    await until(async () => (await bobClient.transfer(id)).status === "ready", 30_000, "the transfer to be ready");
    const t = await bobClient.transfer(id);
    const D = path.join(root, "bob-one");
    const byName = await runCli(bob, ["get", id, "--file", "b.bin", "--dir", D, "--json"]);
    expect(byName.code, byName.stderr).toBe(0);
    expect(json(byName.stdout).files).toMatchObject([{ name: "src-one/sub/b.bin", path: path.join(realpathSync(D), "b.bin"), size: 2000, sha256: sha(b) }]);
    expect((await bobClient.transfer(id)).recipients[0]!.downloadedAt).toBeNull(); // one file of two: not yet
    const ia = t.files.find((f) => f.name === "src-one/a.bin")!.index;
    const byIndex = await runCli(bob, ["get", id, "--file", String(ia), "--dir", D]);
    expect(byIndex.code, byIndex.stderr).toBe(0);
    expect(readFileSync(path.join(D, "a.bin")).equals(a)).toBe(true);
    expect(readFileSync(path.join(D, "b.bin")).equals(b)).toBe(true);
    expect(readdirSync(D).sort()).toEqual(["a.bin", "b.bin"]); // no .part left
    // every file served whole: the server counts it as delivered (docs/api.md, receipts)
    await until(async () => (await bobClient.transfer(id)).recipients[0]!.downloadedAt !== null, 20_000, "the receipt");
  });

  it("send --wait --json that ends undelivered prints one JSON document (the error, carrying the result) and exits 6", async () => {
    const wait = spawnCli(alice, ["send", "--plain", "--to", bob.id!, "--message", "never read", "--wait", "--json"]);
    await until(() => wait.stderr().includes("Waiting until"), 30_000, "send --wait to wait");
    const bobClient = new PushdropClient({ server: server.base, token: tokenOf(bob) });
    const mine = (await bobClient.inbox(bob.id!)).find((x) => x.message === "never read")!;
    expect((await runCli(alice, ["cancel", mine.id])).code).toBe(0);
    const done = await wait.done;
    expect(done.code, done.stderr).toBe(6);
    const doc = json(done.stdout); // throws unless stdout is exactly one document
    expect(doc.error).toMatchObject({ code: "undelivered", details: { id: mine.id, status: "cancelled", delivered: [] } });
    // its status says it is over, not when it would have expired
    const st = await runCli(alice, ["status", mine.id]);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain("[cancelled]");
    expect(st.stdout).toContain("cancelled (its files are gone)");
    expect(st.stdout).not.toContain("expires");
  });

  it("an empty PUSHDROP_SERVER is as good as unset", async () => {
    const r = await runCli(alice, ["whoami", "--json"], { env: { PUSHDROP_SERVER: "" } });
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout).server).toBe(server.base);
  });
});

describe("on a terminal and off one", () => {
  const script = (user: User, args: string[]) =>
    spawnSync("script", ["-qfec", [process.execPath, BIN, ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" "), "/dev/null"], {
      env: childEnv(user),
      encoding: "utf8",
      timeout: 120_000,
    });

  it("draws progress bars in place and a QR code on a pseudo-terminal", async () => {
    const file = path.join(root, "tty.bin");
    writeFileSync(file, randomBytes(24 * MiB));
    const r = script(alice, ["send", "--plain", file, "--to", bob.id!]);
    expect(r.status, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\u001b\[\?25l/); // cursor hidden while drawing
    expect(r.stdout).toMatch(/Sending\s+[█░]+\s+\d+%\s+[\d.]+ [KMG]?B of 25\.2 MB\s+(–|[\d.]+ [KMG]?B\/s)\s+\S+ left/);
    expect(r.stdout).toMatch(/\u001b\[1A|\r/); // redrawn in place
    expect(r.stdout).toContain("sent tty.bin (25.2 MB)");

    const who = script(alice, ["whoami"]);
    expect(who.status).toBe(0);
    expect(who.stdout).toContain(`${server.base}/?to=${alice.id}`);
    expect(who.stdout.split("\n").filter((l) => /^[█▀▄ ]{20,}\s*$/.test(l)).length).toBeGreaterThan(10);
  });

  it("leaves the bars on screen as they last stood when stopped with Ctrl-C (here: while retrying, the server away)", async () => {
    const proxy = await CountingProxy.start(server.base);
    try {
      const file = path.join(root, "ctrl-c.bin");
      writeFileSync(file, randomBytes(40 * MiB));
      const cmd = [process.execPath, BIN, "send", "--plain", file, "--to", bob.id!].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(" ");
      const tty = spawn("script", ["-qfec", cmd, "/dev/null"], { env: { ...childEnv(alice), ...through(proxy, alice) }, stdio: ["pipe", "pipe", "pipe"] });
      let out = "";
      tty.stdout!.on("data", (d) => (out += d));
      const exited = new Promise<number | null>((r) => tty.on("close", (code) => r(code)));
      proxy.onResponse = (s) => {
        if (s.method === "PUT" && s.status === 200) {
          proxy.onResponse = null;
          setImmediate(() => void proxy.close());
        }
      };
      await until(() => out.includes("retrying (1/5)"), 60_000, () => `the send to retry (${JSON.stringify(out.slice(-300))})`);
      tty.stdin!.write("\u0003"); // Ctrl-C on the terminal
      expect(await exited).toBe(130);
      // cli-progress shows the cursor again as it stops, goes back to the first bar, then either
      // clears everything below (ESC [0J: the bars gone) or steps over the bars, left as they stood
      const stop = out.lastIndexOf("\u001b[?25h");
      expect(out.slice(0, stop)).toMatch(/Sending\s+[█░]+\s+\d+%\s+[\d.]+ [KMG]?B of 41\.9 MB/);
      expect(out.slice(stop)).not.toContain("\u001b[0J");
      expect(out.slice(stop)).not.toContain("\u001b[2K");
      expect(out.slice(stop)).toContain("Stopped.");
    } finally {
      await proxy.close().catch(() => undefined);
    }
  });

  it("listen on a terminal asks before a download, then still stops on Ctrl-C with 0", async () => {
    const dave = makeUser(root, "dave", server.base);
    const reg = await runCli(dave, ["register", "--name", "dave", "--json"]);
    expect(reg.code, reg.stderr).toBe(0);
    const file = path.join(root, "ask-me.txt");
    writeFileSync(file, "ask first\n");
    const sent = await runCli(alice, ["send", "--plain", file, "--to", json(reg.stdout).id]);
    expect(sent.code, sent.stderr).toBe(0);
    const D = path.join(root, "dave-asked");
    const cmd = [process.execPath, BIN, "listen", "--dir", D].map((a) => `'${a}'`).join(" ");
    const tty = spawn("script", ["-qfec", cmd, "/dev/null"], { env: childEnv(dave), stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    tty.stdout!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => tty.on("close", (code) => r(code)));
    await until(() => out.includes(`Download into ${D}? [Y/n]`), 60_000, () => `the question (${JSON.stringify(out.slice(-300))})`);
    tty.stdin!.write("n\r");
    await until(() => out.includes(`left in your inbox (pushdrop get ${sent.stdout.trim()})`), 30_000, "the answer to be taken");
    tty.stdin!.write("\u0003"); // Ctrl-C, read as a key again once the question is answered
    expect(await exited, out).toBe(0);
    expect(existsSync(D)).toBe(false); // nothing was downloaded
  });

  it("listen started in the background of a terminal (listen &) is not stopped by the terminal for reading its keys", async () => {
    const job = path.join(root, "background.sh");
    writeFileSync(
      job,
      [
        "set -m", // job control, as in an interactive shell: the job gets a process group of its own, not the terminal's
        `'${process.execPath}' '${BIN}' listen --json > '${path.join(root, "background.out")}' 2>&1 &`,
        "P=$!",
        "sleep 4",
        'echo "state=$(ps -o stat= -p $P)"',
        "kill -CONT $P; kill -INT $P; wait $P",
        'echo "exit=$?"',
      ].join("\n"),
    );
    const r = spawnSync("script", ["-qfec", `bash '${job}'`, "/dev/null"], { env: childEnv(bob), encoding: "utf8", timeout: 60_000 });
    expect(readFileSync(path.join(root, "background.out"), "utf8")).toContain('"listening"');
    expect(r.stdout).toMatch(/state=S/); // running (asleep), not T (stopped by SIGTTOU/SIGTTIN)
    expect(r.stdout).toContain("exit=0");
  });

  it("listen suspended with Ctrl-Z and brought back with fg still stops on Ctrl-C with 0", async () => {
    const erin = makeUser(root, "erin", server.base); // (nothing waiting for her: no question asked)
    expect((await runCli(erin, ["register", "--name", "erin"])).code).toBe(0);
    const job = path.join(root, "suspend.sh");
    writeFileSync(
      job,
      [
        "set -m",
        `'${process.execPath}' '${BIN}' listen &`,
        'echo "pid=$!"',
        "fg %1",
        'echo "after-fg=$?"',
        'echo "state=$(ps -o stat= -p $(jobs -p %1))"',
        "fg %1",
        'echo "exit=$?"',
      ].join("\n"),
    );
    const tty = spawn("script", ["-qfec", `bash '${job}'`, "/dev/null"], { env: childEnv(erin), stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    tty.stdout!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => tty.on("close", (code) => r(code)));
    await until(() => /pid=\d+/.test(out), 30_000, () => `the job to start (${JSON.stringify(out.slice(-300))})`);
    const pid = Number(/pid=(\d+)/.exec(out)![1]);
    /**
     * listen is the terminal's foreground job, running, and has the keys (its terminal in raw
     * mode: -isig, so Ctrl-Z and Ctrl-C come to it as bytes): read from /proc and `stty`, the
     * state the keys below need, instead of a pause that hopes `fg` has got that far.
     */
    const foregroundWithKeys = () => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const [state, , pgrp, , , tpgid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        if (state === "T" || pgrp !== tpgid) return false;
        const modes = execFileSync("stty", ["-F", readlinkSync(`/proc/${pid}/fd/0`), "-a"], { encoding: "utf8" });
        return /(^|\s)-isig(\s|$)/.test(modes);
      } catch {
        return false;
      }
    };
    const where = () => `${JSON.stringify(out.slice(-300))}; /proc/${pid}/stat: ${existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "gone"}`;
    await until(() => out.includes("Listening as"), 60_000, () => `listen to connect (${where()})`);
    await until(foregroundWithKeys, 30_000, () => `fg to make listen the foreground job, and listen to take the keys (${where()})`);
    tty.stdin!.write("\u001a"); // Ctrl-Z
    await until(() => out.includes("state="), 30_000, () => `the job to stop (${where()})`);
    expect(out).toMatch(/after-fg=148/); // 128 + SIGTSTP: suspended
    expect(out).toMatch(/state=T/);
    // the second fg: back in the foreground, and it takes the keys again
    await until(foregroundWithKeys, 30_000, () => `the second fg to resume listen, and listen to take the keys again (${where()})`);
    tty.stdin!.write("\u0003"); // Ctrl-C, read as a key again
    await exited;
    expect(out).toContain("exit=0");
  });

  it("prints plain lines, without a QR code, off one", async () => {
    const who = await runCli(alice, ["whoami"]);
    expect(who.stdout).not.toMatch(/[█▀▄]/);
    const file = path.join(root, "plain.bin");
    writeFileSync(file, randomBytes(3 * MiB));
    const r = await runCli(alice, ["send", "--plain", file, "--to", bob.id!]);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/[\r\u001b]/);
    expect(r.stderr).toMatch(/^sent plain\.bin \(3\.1 MB\)$/m);
  });
});

describe("exit codes and --json errors", () => {
  it("a well-formed id nobody has: exit 3, the API's reason named", async () => {
    const nobody = "123456786"; // valid check digit, not registered
    const r = await runCli(alice, ["send", "--to", nobody, "--message", "hi", "--json"]);
    expect(r.code).toBe(3);
    expect(json(r.stdout)).toEqual({
      error: { code: "terminal_not_found", kind: "api", status: 404, message: expect.stringContaining("123456786"), details: { missing: [nobody] } },
    });
    expect(r.stderr).toMatch(/^pushdrop: .*\(terminal_not_found, HTTP 404\)\n$/);
    const human = await runCli(alice, ["status", "A".repeat(22)]);
    expect(human.code).toBe(3);
    expect(human.stderr).toContain("transfer_not_found");
    expect(human.stderr).not.toMatch(/\n\s+at /); // never a stack trace
  });

  it("bad usage: exit 2", async () => {
    const typo = await runCli(alice, ["send", "x", "--to", "123456789", "--json"]);
    expect(typo.code).toBe(2);
    expect(json(typo.stdout).error).toMatchObject({ code: "usage", kind: "usage" });
    expect(typo.stderr).toContain("check digit");
    const unknown = await runCli(alice, ["send", "--frobnicate", "--json"]);
    expect(unknown.code).toBe(2);
    expect(json(unknown.stdout).error.code).toBe("usage");
    expect((await runCli(alice, ["sned"])).stderr).toContain("Did you mean send?");
    expect((await runCli(alice, ["send", path.join(root, "no-such-file"), "--to", bob.id!])).code).toBe(2);
    const stranger = makeUser(root, "stranger", server.base);
    const notRegistered = await runCli(stranger, ["inbox"]);
    expect(notRegistered.code).toBe(2);
    expect(notRegistered.stderr).toContain("pushdrop register");
    expect((await runCli(alice, ["send", "--help"])).stdout).toMatch(/--max-downloads[\s\S]*Exit codes: 0 ok/);
    expect((await runCli(alice, ["--help"])).stdout).toMatch(/Exit codes:[\s\S]*3\s+the server refused/);
  });

  it("server down: exit 4", async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    const r = await runCli(alice, ["inbox", "--json"], { env: { PUSHDROP_SERVER: down, PUSHDROP_ID: alice.id!, PUSHDROP_TOKEN: "pd_x" } });
    expect(r.code).toBe(4);
    expect(json(r.stdout).error).toMatchObject({ code: "network", kind: "network" });
    expect(r.stderr).toContain(`Could not reach ${down} (ECONNREFUSED)`);
  });

  it("--server where nothing listens, not registered there: says the server cannot be reached (exit 4), not 'no terminal there yet'", async () => {
    const down = `http://127.0.0.1:${await freePort()}`;
    for (const args of [["inbox", "--server", down], ["send", "--to", bob.id!, "--message", "hi", "--server", down]]) {
      const r = await runCli(alice, args);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toContain(`Could not reach ${down} (ECONNREFUSED): is the address right, and is the server running?`);
      expect(r.stderr).not.toContain("no terminal");
    }
    // where a server does answer, not being registered there is what is said (exit 2)
    const r = await runCli(makeUser(root, "newcomer", server.base), ["inbox"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`no terminal on ${server.base} yet`);
  });
});

describe("installing", () => {
  it("runs with npx from the checkout, and from anywhere after npm install -g", async () => {
    const npx = spawnSync("npx", ["--no-install", "pushdrop", "--version"], { cwd: ROOT, encoding: "utf8" });
    expect(npx.stdout.trim(), npx.stderr).toMatch(/^\d+\.\d+\.\d+$/);
    const prefix = path.join(root, "global");
    const install = spawnSync("npm", ["install", "-g", "--prefix", prefix, ROOT], { encoding: "utf8", env: { ...process.env, npm_config_loglevel: "error" } });
    expect(install.status, install.stderr).toBe(0);
    const elsewhere = mkdtempSync(path.join(tmpdir(), "pushdrop-elsewhere-"));
    try {
      const r = spawnSync(path.join(prefix, "bin", "pushdrop"), ["whoami", "--json"], { cwd: elsewhere, encoding: "utf8", env: childEnv(alice) });
      expect(r.status, r.stderr).toBe(0);
      expect(json(r.stdout).id).toBe(alice.id);
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });

  it("says what to do when the checkout was never built", () => {
    const bare = mkdtempSync(path.join(tmpdir(), "pushdrop-bare-"));
    try {
      mkdirSync(path.join(bare, "bin"));
      writeFileSync(path.join(bare, "bin", "pushdrop.mjs"), readFileSync(BIN));
      const r = spawnSync(process.execPath, [path.join(bare, "bin", "pushdrop.mjs"), "--help"], { encoding: "utf8" });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain("pushdrop is not built yet. Run `npm ci`");
    } finally {
      rmSync(bare, { recursive: true, force: true });
    }
  });
});

describe("what another party wrote is shown, never obeyed (issue 21, item 3)", () => {
  const ESC = "\u001b";
  const BEL = "\u0007";
  const clipboard = `${ESC}]52;c;cHduZWQ=${BEL}`; // OSC 52: write the clipboard
  const title = `${ESC}]0;owned${BEL}`; // OSC 0: the window title
  const fake = `${ESC}[1A${ESC}[2K✔ verified sender: your bank`; // up a line, erase it, print a lie
  const message = `hello ${clipboard}${title}\n${fake}\n\u202Eevil\u2066 isolate\u2069 \u200Fmark\r\nend`;
  // what a terminal acts on, or what reorders or hides text: never on stdout or stderr (newlines aside)
  const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/u;
  // how each character must show (written here independently of cli/sanitize.ts)
  const visible = (s: string) =>
    s
      .replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`)
      .replace(/[\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  const clean = (what: string, out: string) => {
    const bytes = Buffer.from(out, "utf8");
    expect(bytes.includes(0x1b), `${what}: an ESC byte`).toBe(false);
    expect(bytes.includes(0x07), `${what}: a BEL byte`).toBe(false);
    expect(UNSAFE.exec(out)?.[0], `${what}: ${JSON.stringify(UNSAFE.exec(out)?.[0])}`).toBeUndefined();
  };

  it("listen, inbox, get and status print messages, file names and the sender's name with every control and bidi character made visible", async () => {
    const mallory = await new PushdropClient({ server: server.base }).register(`Mallory ${title}\u202Egnp.exe`);
    const mc = new PushdropClient({ server: server.base, token: mallory.token });
    const carol = makeUser(root, "carol", server.base);
    const reg = await runCli(carol, ["register", "--name", "carol", "--json"]);
    expect(reg.code, reg.stderr).toBe(0);
    carol.id = json(reg.stdout).id;

    // names the server keeps today (it drops C0 controls and bidi overrides from file names)
    const names = ["a\u2028b.txt", "zero\u200bwidth.txt", "arabic\u061cmark.txt", `n${ESC}[31mred\u202Etxt.exe`];
    const files = names.map((n, i) => ({ name: n, bytes: Buffer.from(`file ${i}\n`) }));
    const withFiles = await mc.createTransfer({ to: [carol.id!], files: files.map((f) => ({ name: f.name, size: f.bytes.length })), message });
    await uploadFiles(mc, withFiles, files.map((f) => new Blob([f.bytes])));
    await until(async () => (await mc.transfer(withFiles.id)).status === "ready", 30_000, "the transfer to be ready");
    const alone = await mc.sendMessage([carol.id!], message);

    const listen = spawnCli(carol, ["listen"]);
    await until(() => listen.stdout().includes(withFiles.id) && listen.stdout().includes(alone.id) && listen.stderr().includes(`pushdrop get ${withFiles.id}`), 30_000, () => `listen to print both (${listen.stdout()})`);
    listen.child.kill("SIGINT");
    const heard = await listen.done;
    expect(heard.code, heard.stderr).toBe(0);
    clean("listen stdout", heard.stdout);
    clean("listen stderr", heard.stderr);
    // the message is there, as inert text, each line of it indented under its transfer
    expect(heard.stdout).toContain("  │ hello \\x1b]52;c;cHduZWQ=\\x07\\x1b]0;owned\\x07\n");
    expect(heard.stdout).toContain("  │ \\x1b[1A\\x1b[2K✔ verified sender: your bank\n");
    expect(heard.stdout).toContain("  │ \\u202eevil\\u2066 isolate\\u2069 \\u200fmark\n  │ end\n");
    // the names as the server keeps them (it may drop some of these characters itself), as they must show
    const stored = (await mc.transfer(withFiles.id)).files.map((f) => f.name);
    expect((await mc.transfer(withFiles.id)).message).toContain(clipboard); // (messages are kept as written)
    for (const n of stored) expect(heard.stdout).toContain(`  ${visible(n)}  7 B\n`);

    const inbox = await runCli(carol, ["inbox"]);
    expect(inbox.code, inbox.stderr).toBe(0);
    clean("inbox", inbox.stdout + inbox.stderr);
    expect(inbox.stdout).toContain("  │ hello \\x1b]52;c;cHduZWQ=\\x07\\x1b]0;owned\\x07 …\n");
    // its files are named (the first three, then how many more)
    expect(inbox.stdout).toContain(`${stored.slice(0, 3).map((n) => `  ${visible(n)}  7 B\n`).join("")}  … and 1 more\n`);

    const D = path.join(root, "carol-got");
    const got = await runCli(carol, ["get", withFiles.id, "--dir", D]);
    expect(got.code, got.stderr).toBe(0);
    clean("get stdout", got.stdout);
    clean("get stderr", got.stderr);
    expect(got.stdout.trim().split("\n")).toHaveLength(4);
    for (const n of stored) expect(got.stdout).toContain(`${D}/${visible(n)}\n`);
    const text = await runCli(carol, ["get", alone.id]);
    expect(text.code, text.stderr).toBe(0);
    clean("get (a message)", text.stdout + text.stderr);
    expect(text.stdout).toContain("\\x1b[1A\\x1b[2K✔ verified sender: your bank\n");

    const st = await runCli(carol, ["status", withFiles.id]);
    expect(st.code, st.stderr).toBe(0);
    clean("status", st.stdout + st.stderr);

    // --json stays exact: the same string comes back, yet nothing in the text is raw
    const asJson = await runCli(carol, ["inbox", "--json"]);
    clean("inbox --json", asJson.stdout);
    const back = json(asJson.stdout).transfers.find((t: { id: string }) => t.id === withFiles.id);
    expect(back.message).toBe((await mc.transfer(withFiles.id)).message);
    expect(back.message).toContain(clipboard);
  });
});

describe("a symbolic link planted where the download goes (issue 21, item 9)", () => {
  it("is not written through, for a new download or a resumed one: exit 5, the reason said, the file outside untouched", async () => {
    const ac = new PushdropClient({ server: server.base, token: tokenOf(alice) });
    const body = randomBytes(64 * 1024);
    const t = await ac.createTransfer({ to: [bob.id!], files: [{ name: "payload.bin", size: body.length }] });
    await uploadFiles(ac, t, [new Blob([body])]);
    await until(async () => (await ac.transfer(t.id)).status === "ready", 30_000, "the transfer to be ready");

    const D = path.join(root, "bob-shared");
    mkdirSync(D);
    const part = path.join(realpathSync(D), `.pushdrop-${t.id}.zip.part`);
    const outside = path.join(root, "not-in-D");
    mkdirSync(outside);

    // a new download: the link points at a name that does not exist yet (open "w" would create it)
    symlinkSync(path.join(outside, "created.bin"), part);
    const fresh = await runCli(bob, ["get", t.id, "--dir", D, "--json"]);
    expect(fresh.code, fresh.stderr).toBe(5);
    expect(json(fresh.stdout).error.code).toBe("unsafe_part_file");
    expect(fresh.stderr).toContain("is a symbolic link; pushdrop writes only to files it created there, never through a link");
    expect(readdirSync(outside)).toEqual([]);

    // a resume: the link points at a file with bytes in it (a resume would have appended to it)
    rmSync(part);
    const victim = path.join(outside, "victim.txt");
    writeFileSync(victim, "precious\n");
    symlinkSync(victim, part);
    const resumed = await runCli(bob, ["get", t.id, "--dir", D]);
    expect(resumed.code, resumed.stderr).toBe(5);
    expect(resumed.stderr).toContain("is a symbolic link");
    expect(readFileSync(victim, "utf8")).toBe("precious\n");
    expect(readdirSync(outside)).toEqual(["victim.txt"]);
    expect(lstatSync(part).isSymbolicLink()).toBe(true); // (and it is left for its owner to look at)

    // once it is gone, the download goes ahead
    rmSync(part);
    const ok = await runCli(bob, ["get", t.id, "--dir", D]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(sha(readFileSync(path.join(D, "payload.bin")))).toBe(sha(body));
  });
});

describe("a send while the server is away", () => {
  it("says it is retrying (n/5) while it does, and goes on when the server is back", async () => {
    let proxy = await CountingProxy.start(server.base);
    const port = Number(new URL(proxy.base).port);
    try {
      const file = path.join(root, "away.bin");
      const bytes = randomBytes(40 * MiB);
      writeFileSync(file, bytes);
      const send = spawnCli(alice, ["send", "--plain", file, "--to", bob.id!], { env: through(proxy, alice) });
      // the first part answered: the server goes away (every connection dropped, nothing listening)
      const gone = new Promise<void>((resolve) => {
        proxy.onResponse = (s) => {
          if (s.method === "PUT" && s.status === 200) {
            proxy.onResponse = null;
            setImmediate(() => void proxy.close().then(resolve));
          }
        };
      });
      await gone;
      await until(() => send.stderr().includes("server not reachable, retrying (2/5) in 2 s…"), 60_000, () => `the retry lines (${send.stderr()})`);
      expect(send.stderr()).toContain("server not reachable, retrying (1/5) in 1 s…");
      expect(send.stderr().match(/retrying \(1\/5\)/g)).toHaveLength(1); // one line per retry, not one per part
      proxy = await CountingProxy.start(server.base, port);
      const done = await send.done;
      expect(done.code, done.stderr).toBe(0);
      expect(done.stderr).toContain("server reachable again, going on");
      const t = await new PushdropClient({ server: server.base, token: tokenOf(alice) }).transfer(done.stdout.trim());
      await until(async () => (await new PushdropClient({ server: server.base, token: tokenOf(alice) }).transfer(t.id)).files[0]!.sha256 !== null, 30_000, "the checksum");
      expect((await new PushdropClient({ server: server.base, token: tokenOf(alice) }).transfer(t.id)).files[0]!.sha256).toBe(sha(bytes));
    } finally {
      await proxy.close();
    }
  });
});

describe("Ctrl-C through npx", () => {
  it("npx pushdrop listen on a terminal: Ctrl-C ends it with 0 (read as a key, so npm's shell never gets the SIGINT)", async () => {
    // a terminal of its own, with nothing waiting: a transfer replayed on connect would put up the
    // "Download into …?" question, and Ctrl-C would then answer that question instead
    const quiet = makeUser(root, "quiet-npx", server.base);
    const reg = await runCli(quiet, ["register", "--name", "quiet", "--json"]);
    expect(reg.code, reg.stderr).toBe(0);
    const cmd = ["npx", "--no-install", "pushdrop", "listen"].join(" ");
    const tty = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT, env: childEnv(quiet), stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    tty.stdout!.on("data", (d) => (out += d));
    const exited = new Promise<number | null>((r) => tty.on("close", (code) => r(code)));
    await until(() => out.includes("Listening as"), 60_000, () => `npx pushdrop listen to connect (${JSON.stringify(out.slice(-300))})`);
    tty.stdin!.write("\u0003"); // Ctrl-C typed on the terminal
    expect(await exited, out).toBe(0); // (script -e: the exit status of npx)
  });

  // Without a terminal to read the key from, a SIGINT sent to the whole group (what the
  // terminal itself would do, or `kill -INT -- -<pgid>`) also reaches npm's `sh -c`; Debian's
  // sh (dash) kills itself with it once pushdrop has exited, however pushdrop exited, and npm
  // then ends as its shell did. The README says so.
  it("a SIGINT to npx's whole process group: npm ends by it, whatever pushdrop's exit (a limit of npm's sh -c)", async () => {
    const r = spawnCli(bob, ["listen"], { command: ["npx", "--no-install", "pushdrop"], cwd: ROOT, detached: true });
    await until(() => r.stderr().includes("Listening as"), 60_000, () => `npx pushdrop listen to connect (${r.stderr()})`);
    process.kill(-r.child.pid!, "SIGINT");
    const sh = await r.done;
    // (npm kills itself with the shell's signal: a shell reports that as 130)
    if (realpathSync("/bin/sh").endsWith("dash")) expect([sh.code, sh.signal], sh.stderr).toEqual([null, "SIGINT"]);
    expect(sh.stderr).not.toContain("pushdrop:"); // pushdrop itself ended as it should, with no error
  });
});

describe("listen across a server restart", () => {
  it("reconnects by itself and receives what is sent after", async () => {
    const D = path.join(root, "after-restart");
    const listen = spawnCli(bob, ["listen", "--auto", "--json", "--dir", D]);
    try {
      await until(() => listen.stdout().includes('"listening"'), 30_000, "listen to connect");
      // what bob has not dealt with yet is replayed first: wait until that is done
      await new Promise((r) => setTimeout(r, 2000));
      const { port, state } = server;
      await server.stop();
      await until(() => listen.stderr().includes("connection lost"), 30_000, "listen to notice");
      server = await startServer({ port, state });
      await until(() => listen.stdout().includes('"reconnected"'), 60_000, "listen to reconnect");
      const file = path.join(root, "after-restart.txt");
      writeFileSync(file, "still here");
      const sent = await runCli(alice, ["send", "--plain", file, "--to", bob.id!]);
      expect(sent.code, sent.stderr).toBe(0);
      const id = sent.stdout.trim();
      await until(() => listen.stdout().includes(`"saved","transferId":"${id}"`), 60_000, "the transfer to be saved");
      expect(readFileSync(path.join(D, "after-restart.txt"), "utf8")).toBe("still here");
    } finally {
      listen.child.kill("SIGINT");
      expect((await listen.done).code).toBe(0); // Ctrl-C is how listening ends
    }
  });
});
