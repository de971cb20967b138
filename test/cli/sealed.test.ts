import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushdropClient, uploadFiles } from "../../client";
import { generateIdentity, safetyNumber, sealDocument, sealedFileSpecs, sealStream, type SealDraft } from "../../client/seal";
import { age, sha256 as sha } from "../node/support/bytes.ts";
import type { Server } from "../node/support/server.ts";
import { isR2Blob, isSqlite, searchState } from "../node/support/state.ts";
import { CountingProxy, makeUser, runCli, spawnCli, treeDigest, until, setUpStage, tearDownStage, type Stage, type User } from "./support/cli.ts";

/**
 * Sealed transfers with the real `pushdrop` (issue 23), against `npm start`: what the CLI seals,
 * Debian's `age` opens with the identity `pushdrop key export` prints (the raw package fetched
 * with plain HTTP); CLI → CLI with the real names and bytes; --plain; a sealed send killed half
 * way and resumed from its spool; a changed key refuses the send; safety numbers.
 */

const MiB = 1024 * 1024;
let server: Server;
let root: string;
let alice: User;
let bob: User;

const json = (s: string) => JSON.parse(s) as Record<string, any>;
const configOf = (u: User) => json(readFileSync(path.join(u.env.XDG_CONFIG_HOME!, "pushdrop", "config.json"), "utf8"));
const tokenOf = (u: User) => configOf(u).terminals[server.base].token as string;
const sendsDir = (u: User) => path.join(u.env.XDG_STATE_HOME!, "pushdrop", "sends");

/** `age -d -i <identity file>` of `file`. */
const ageOpen = (identityFile: string, file: string) => age(["-d", "-i", identityFile, file]);

/** Three markers, one for each thing sealing hides: a file's content, its name, the message. */
const markers = () => ({ content: `c${randomBytes(8).toString("hex")}`, name: `n${randomBytes(8).toString("hex")}`, message: `m${randomBytes(8).toString("hex")}` });

/** The raw package of a transfer, fetched with plain HTTP as the recipient, unzipped into a folder. */
async function rawPackage(transferId: string, token: string, into: string): Promise<string[]> {
  const c = new PushdropClient({ server: server.base, token });
  for (;;) {
    const t = await c.transfer(transferId);
    if (t.status === "ready" || t.status === "delivered") break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const res = await fetch(`${server.base}/v1/transfers/${transferId}/package`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  mkdirSync(into, { recursive: true });
  const zip = path.join(into, "package.zip");
  writeFileSync(zip, Buffer.from(await res.arrayBuffer()));
  execFileSync("unzip", ["-q", "-o", zip, "-d", path.join(into, "x")]);
  return readdirSync(path.join(into, "x")).sort();
}

const stage: Stage = { users: [] };
beforeAll(async () => {
  await setUpStage(stage, "pushdrop-sealed-", ["alice", "bob"], async (u, out) => {
    // the key is made at register, kept in the config (0600), and published
    expect(out.key).toMatch(/^age1/);
    expect(statSync(path.join(u.env.XDG_CONFIG_HOME!, "pushdrop", "config.json")).mode & 0o777).toBe(0o600);
    expect((await new PushdropClient({ server: stage.server!.base }).lookup(u.id!)).key).toBe(out.key);
  });
  ({ server, root } = stage as Required<Stage>);
  [alice, bob] = stage.users as [User, User];
}, 180_000);
afterAll(() => tearDownStage(stage));

describe("keys", () => {
  it("key export prints the identity whose recipient the server publishes; whoami shows the 30-digit fingerprint", async () => {
    const exp = await runCli(bob, ["key", "export"]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(exp.stdout).toMatch(/^AGE-SECRET-KEY-1[0-9A-Z]{58}\n$/);
    const idFile = path.join(root, "bob.identity");
    writeFileSync(idFile, exp.stdout, { mode: 0o600 });
    const recipient = execFileSync("age-keygen", ["-y", idFile], { encoding: "utf8" }).trim();
    expect((await new PushdropClient({ server: server.base }).lookup(bob.id!)).key).toBe(recipient);
    const who = await runCli(bob, ["whoami", "--json"]);
    expect(who.code, who.stderr).toBe(0);
    expect(json(who.stdout)).toMatchObject({ key: recipient, keyPublished: true, shareUrl: `${server.base}/?to=${bob.id}#k=${recipient}` });
    expect(json(who.stdout).fingerprint).toMatch(/^\d{30}$/);
    const human = await runCli(bob, ["whoami"]);
    expect(human.stdout).toContain(`key fingerprint: ${json(who.stdout).fingerprint.replace(/(\d{5})(?=\d)/g, "$1 ")}`);
  });

  it("key verify: a wrong number is exit 5 and marks nothing; the right one marks the contact verified", async () => {
    const mine = configOf(alice).terminals[server.base].keys[0].recipient as string;
    const theirs = (await new PushdropClient({ server: server.base }).lookup(bob.id!)).key!;
    const right = safetyNumber({ id: alice.id!, key: mine }, { id: bob.id!, key: theirs });
    const shownNumber = await runCli(alice, ["key", "verify", bob.id!, "--json"]);
    expect(json(shownNumber.stdout).safetyNumber).toBe(right);
    const wrong = right.slice(0, 59) + String((Number(right[59]) + 1) % 10);
    const bad = await runCli(alice, ["key", "verify", bob.id!, wrong, "--json"]);
    expect(bad.code).toBe(5);
    expect(json(bad.stdout).error.code).toBe("safety_number_mismatch");
    expect(configOf(alice).pins?.[server.base]?.[bob.id!]?.verified ?? false).toBe(false);
    // pasted as it is shown, 12 groups of 5, unquoted: one number
    const good = await runCli(alice, ["key", "verify", bob.id!, ...right.match(/\d{5}/g)!]);
    expect(good.code, good.stderr).toBe(0);
    expect(configOf(alice).pins[server.base][bob.id!]).toMatchObject({ key: theirs, verified: true });
  });
});

describe("sealed send", () => {
  it("is the default: the server holds 1.age, 2.age, seal.age and no message; Debian's age opens each with the exported identity; CLI get writes the real names; no content, name or message anywhere in the server's state", async () => {
    const m = markers();
    const src = path.join(root, "src-sealed", "trip");
    mkdirSync(path.join(src, "día 1"), { recursive: true });
    const big = randomBytes(3 * MiB + 5);
    writeFileSync(path.join(src, "big.bin"), big);
    writeFileSync(path.join(src, "día 1", `notes ${m.name}.txt`), `content ${m.content}\n`);
    const sent = await runCli(alice, ["send", src, "--to", bob.id!, "--message", `message ${m.message} ☀`, "--json"]);
    expect(sent.code, sent.stderr).toBe(0);
    const out = json(sent.stdout);
    expect(out).toMatchObject({ sealed: true, message: `message ${m.message} ☀` });
    const id = out.id as string;
    expect(readdirSync(sendsDir(alice))).toEqual([]); // the spool went with the record
    // the server's whole state (R2 blobs, D1 and Durable Object SQLite files with their WALs), read
    // as bytes: none of the three is there in any form (the --plain test below finds its own)
    const { files, found } = searchState(server.state, m);
    expect(files.filter(isR2Blob).length, files.join("\n")).toBeGreaterThan(0);
    expect(files.filter(isSqlite).length, files.join("\n")).toBeGreaterThan(0);
    expect(found).toEqual({ content: [], name: [], message: [] });

    const t = await new PushdropClient({ server: server.base, token: tokenOf(bob) }).transfer(id);
    expect(t.sealed).toBe(true);
    expect(t.message).toBeNull();
    expect(t.files.map((f) => f.name)).toEqual(["1.age", "2.age", "seal.age"]);
    for (const x of Object.values(m)) expect(JSON.stringify(t)).not.toContain(x);

    const idFile = path.join(root, "bob-export.identity");
    writeFileSync(idFile, (await runCli(bob, ["key", "export"])).stdout, { mode: 0o600 });
    const entries = await rawPackage(id, tokenOf(bob), path.join(root, "raw-sealed"));
    expect(entries).toEqual(["1.age", "2.age", "manifest.json", "seal.age"]);
    const x = path.join(root, "raw-sealed", "x");
    expect(readFileSync(path.join(x, "2.age")).includes(Buffer.from(m.content))).toBe(false);
    const seal = json((await ageOpen(idFile, path.join(x, "seal.age"))).toString("utf8"));
    expect(seal).toMatchObject({ transferId: id, from: alice.id, to: [bob.id], message: `message ${m.message} ☀` });
    expect(seal.files.map((f: any) => f.name)).toEqual(["trip/big.bin", `trip/día 1/notes ${m.name}.txt`]);
    // each file's type is in the seal only, as the server would guess it for a plain file
    expect(seal.files.map((f: any) => f.type)).toEqual(["application/octet-stream", "text/plain"]);
    expect((await ageOpen(idFile, path.join(x, "1.age"))).equals(big)).toBe(true);
    expect((await ageOpen(idFile, path.join(x, "2.age"))).toString()).toBe(`content ${m.content}\n`);
    expect(seal.files[0].sha256).toBe(sha(big));

    // CLI → CLI: names and bytes right, the message shown
    const D = path.join(root, "bob-get");
    const got = await runCli(bob, ["get", id, "--dir", D, "--json"]);
    expect(got.code, got.stderr).toBe(0);
    expect(json(got.stdout)).toMatchObject({ sealed: true, message: `message ${m.message} ☀` });
    expect(treeDigest(path.join(D, "trip"))).toEqual(treeDigest(src));
    expect(readdirSync(D)).toEqual(["trip"]); // no package or temporary file left
    // one file alone (`get --file` by its real base name): its age file, opened, under that name
    const F = path.join(root, "bob-get-file");
    const one = await runCli(bob, ["get", id, "--file", `notes ${m.name}.txt`, "--dir", F, "--json"]);
    expect(one.code, one.stderr).toBe(0);
    expect(json(one.stdout).files).toMatchObject([{ index: 1, name: `trip/día 1/notes ${m.name}.txt`, sha256: seal.files[1].sha256 }]);
    expect(readFileSync(path.join(F, `notes ${m.name}.txt`), "utf8")).toBe(`content ${m.content}\n`);
    expect(readdirSync(F)).toEqual([`notes ${m.name}.txt`]); // no .part or .unpacking left
    // and once packaged and downloaded, still none of the three
    expect(searchState(server.state, m).found).toEqual({ content: [], name: [], message: [] });
  });

  it("inbox shows the lock and the decrypted message and names; a sealed text alone is seal.age alone and get prints it", async () => {
    const sent = await runCli(alice, ["send", "--to", bob.id!, "--message", "sealed note 42", "--json"]);
    expect(sent.code, sent.stderr).toBe(0);
    const id = json(sent.stdout).id as string;
    const t = await new PushdropClient({ server: server.base, token: tokenOf(bob) }).transfer(id);
    expect(t.files.map((f) => f.name)).toEqual(["seal.age"]);
    expect(t.message).toBeNull();
    const inbox = await runCli(bob, ["inbox"]);
    expect(inbox.code, inbox.stderr).toBe(0);
    expect(inbox.stdout).toMatch(new RegExp(`${id}.*🔒 a sealed message\\n  │ sealed note 42`));
    expect(inbox.stdout).toMatch(/🔒 2 sealed files[\s\S]*trip\/big\.bin/);
    const got = await runCli(bob, ["get", id]);
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout).toBe("sealed note 42\n");
  });

  it("listen --auto opens a sealed transfer into --dir", async () => {
    const D = path.join(root, "bob-listen");
    const listen = spawnCli(bob, ["listen", "--auto", "--once", "--json", "--dir", D]);
    await until(() => listen.stdout().includes('"listening"'), 30_000, "listen to connect");
    const file = path.join(root, "for-listen.txt");
    writeFileSync(file, "opened by listen\n");
    const sent = await runCli(alice, ["send", file, "--to", bob.id!, "--message", "via listen"]);
    expect(sent.code, sent.stderr).toBe(0);
    // the sender's lines name the file by its size (17 B), not its ciphertext's, and say nothing of seal.age
    expect(sent.stderr).toContain("sent for-listen.txt (17 B)");
    expect(sent.stderr).not.toContain("seal.age");
    const done = await listen.done;
    expect(done.code, done.stderr).toBe(0);
    const saved = done.stdout.trim().split("\n").map(json).find((e) => e.event === "saved")!;
    expect(saved).toMatchObject({ sealed: true, message: "via listen" });
    expect(readFileSync(path.join(D, "for-listen.txt"), "utf8")).toBe("opened by listen\n");
  });

  it("--plain still sends in the clear, and the server's state holds its content (in R2), its name and its message", async () => {
    const m = markers();
    const file = path.join(root, `clear ${m.name}.txt`);
    writeFileSync(file, `in the clear ${m.content}\n`);
    const sent = await runCli(alice, ["send", "--plain", file, "--to", bob.id!, "--message", `plain one ${m.message} ☀`, "--json"]);
    expect(sent.code, sent.stderr).toBe(0);
    const t = await new PushdropClient({ server: server.base, token: tokenOf(bob) }).transfer(json(sent.stdout).id);
    expect(t.sealed).toBe(false);
    expect(t.message).toBe(`plain one ${m.message} ☀`);
    expect(t.files.map((f) => f.name)).toEqual([`clear ${m.name}.txt`]);
    const D = path.join(root, "bob-plain");
    const got = await runCli(bob, ["get", t.id, "--dir", D]);
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(path.join(D, `clear ${m.name}.txt`), "utf8")).toBe(`in the clear ${m.content}\n`);
    // the same search as for the sealed send finds each of the three: it can see them
    const { files, found } = searchState(server.state, m);
    expect(found.content!.filter(isR2Blob), files.join("\n")).not.toEqual([]);
    expect(found.name).not.toEqual([]);
    expect(found.message).not.toEqual([]);
  });

  it("a sealed send killed half way resumes from its spool (no part the server had sent again) and Debian's age opens the result", async () => {
    const proxy = await CountingProxy.start(server.base);
    try {
      const file = path.join(root, "sealed-resume.bin");
      const bytes = randomBytes(64 * MiB + 11); // sealed: 5 parts of 16 MiB
      writeFileSync(file, bytes);
      const via = { PUSHDROP_SERVER: proxy.base, PUSHDROP_ID: alice.id!, PUSHDROP_TOKEN: tokenOf(alice) };
      const args = ["send", file, "--to", bob.id!];
      const isPart = (s: { method: string; url: string }) => s.method === "PUT" && /\/files\/0\?part=\d+$/.test(s.url);
      const partOf = (url: string) => Number(/part=(\d+)/.exec(url)![1]);
      const first = spawnCli(alice, args, { env: via });
      let ok = 0;
      proxy.onResponse = (s) => {
        if (isPart(s) && s.status === 200) ok++;
      };
      // parts go up while the file is being sealed: killed once two are in and the spool is whole
      // (seal.age written; a send killed while sealing is the next test's `resume`)
      const sealedWhole = () => existsSync(sendsDir(alice)) && readdirSync(sendsDir(alice)).some((n) => n.startsWith("spool-") && existsSync(path.join(sendsDir(alice), n, "seal.age")));
      const killer = setInterval(() => {
        if (ok >= 2 && sealedWhole() && first.child.exitCode === null && !first.child.killed) first.child.kill("SIGKILL");
      }, 5);
      const killed = await first.done;
      clearInterval(killer);
      expect(killed.signal, `${killed.code} ${killed.stderr}`).toBe("SIGKILL");
      proxy.onResponse = null;
      await until(() => proxy.open === 0, 90_000, () => `the cut requests to end (${proxy.stillOpen()})`);

      const left = readdirSync(sendsDir(alice)).sort();
      expect(left).toHaveLength(2); // the record and its spool
      const spool = path.join(sendsDir(alice), left.find((n) => n.startsWith("spool-"))!);
      expect(statSync(spool).mode & 0o777).toBe(0o700);
      expect(readdirSync(spool).sort()).toEqual(["1.age", "seal.age"]);
      for (const n of readdirSync(spool)) expect(statSync(path.join(spool, n)).mode & 0o777).toBe(0o600);
      const spooled = sha(readFileSync(path.join(spool, "1.age")));
      const transferId = left.find((n) => n.endsWith(".json"))!.replace(/\.json$/, "");
      const client = new PushdropClient({ server: server.base, token: tokenOf(bob) });
      const had = (await client.transfer(transferId)).files[0]!.partsReceived;
      expect(had.length).toBeGreaterThanOrEqual(2);
      expect(had.length).toBeLessThan(5);
      const firstRun = proxy.seen.filter(isPart).length;

      const second = await runCli(alice, args, { env: via });
      expect(second.code, second.stderr).toBe(0);
      expect(second.stdout.trim()).toBe(transferId);
      expect(second.stderr).toContain(`Resuming sealed transfer ${transferId} from its spool`);
      expect(second.stderr).not.toContain("Sealing");
      const secondRun = proxy.seen.filter(isPart).slice(firstRun).map((s) => partOf(s.url));
      for (const n of had) expect(secondRun, `part ${n} was on the server already`).not.toContain(n);
      expect(readdirSync(sendsDir(alice))).toEqual([]); // record and spool gone

      const t = await client.transfer(transferId);
      expect(t.files[0]!.sha256).toBe(spooled); // the bytes that went up are the spool's, sealed once
      const idFile = path.join(root, "bob-export.identity");
      const res = await fetch(`${server.base}/v1/transfers/${transferId}/files/0`, { headers: { authorization: `Bearer ${tokenOf(bob)}` } });
      const aged = path.join(root, "resumed.age");
      writeFileSync(aged, Buffer.from(await res.arrayBuffer()));
      expect(sha(await ageOpen(idFile, aged))).toBe(sha(bytes));
    } finally {
      await proxy.close();
    }
  }, 240_000);

  it("`pushdrop resume <id>` finishes a sealed send from its spool; `pushdrop cancel` removes the spool", async () => {
    const proxy = await CountingProxy.start(server.base);
    try {
      const file = path.join(root, "sealed-33.bin");
      const bytes = randomBytes(33 * MiB); // sealed: 3 parts of 16 MiB
      writeFileSync(file, bytes);
      const via = { PUSHDROP_SERVER: proxy.base, PUSHDROP_ID: alice.id!, PUSHDROP_TOKEN: tokenOf(alice) };
      const killAfterOnePart = async (args: string[]) => {
        const run = spawnCli(alice, args, { env: via });
        proxy.onResponse = (s) => {
          if (s.method === "PUT" && /\/files\/0\?part=\d+$/.test(s.url) && s.status === 200 && run.child.exitCode === null && !run.child.killed) run.child.kill("SIGKILL");
        };
        const r = await run.done;
        expect(r.signal, `${r.code} ${r.stderr}`).toBe("SIGKILL");
        proxy.onResponse = null;
        await until(() => proxy.open === 0, 90_000, () => `the cut requests to end (${proxy.stillOpen()})`);
        const left = readdirSync(sendsDir(alice));
        expect(left.filter((n) => n.startsWith("spool-"))).toHaveLength(1);
        return left.find((n) => n.endsWith(".json"))!.replace(/\.json$/, "");
      };

      const id = await killAfterOnePart(["send", file, "--to", bob.id!, "--message", "resume by id"]);
      const resumed = await runCli(alice, ["resume", id], { env: via });
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(readdirSync(sendsDir(alice))).toEqual([]);
      const D = path.join(root, "bob-resumed");
      const got = await runCli(bob, ["get", id, "--dir", D, "--json"]);
      expect(got.code, got.stderr).toBe(0);
      expect(json(got.stdout).message).toBe("resume by id");
      expect(sha(readFileSync(path.join(D, "sealed-33.bin")))).toBe(sha(bytes));

      const id2 = await killAfterOnePart(["send", file, "--to", bob.id!, "--message", "cancel me"]);
      const cancelled = await runCli(alice, ["cancel", id2], { env: via });
      expect(cancelled.code, cancelled.stderr).toBe(0);
      expect(readdirSync(sendsDir(alice))).toEqual([]); // record and spool gone
    } finally {
      await proxy.close();
    }
  }, 240_000);

  it("PUSHDROP_ID/TOKEN with PUSHDROP_IDENTITY opens a sealed transfer; a registration without a key gets one on its next command", async () => {
    // CI: no config at all, the identity from the environment
    const ci = makeUser(root, "ci", server.base);
    const idFile = path.join(root, "bob-export.identity");
    const env = { PUSHDROP_ID: bob.id!, PUSHDROP_TOKEN: tokenOf(bob), PUSHDROP_IDENTITY: readFileSync(idFile, "utf8").trim() };
    const file = path.join(root, "for-ci.txt");
    writeFileSync(file, "for the CI job\n");
    const sent = await runCli(alice, ["send", file, "--to", bob.id!]);
    expect(sent.code, sent.stderr).toBe(0);
    const D = path.join(root, "ci-got");
    const got = await runCli(ci, ["get", sent.stdout.trim(), "--dir", D], { env });
    expect(got.code, got.stderr).toBe(0);
    expect(readFileSync(path.join(D, "for-ci.txt"), "utf8")).toBe("for the CI job\n");
    expect(existsSync(path.join(ci.env.XDG_CONFIG_HOME!, "pushdrop"))).toBe(false); // nothing written
    // without an identity, it says why it cannot open it (exit 5), and writes nothing
    const none = await runCli(ci, ["get", sent.stdout.trim(), "--dir", path.join(root, "ci-none"), "--json"], { env: { ...env, PUSHDROP_IDENTITY: "" } });
    expect(none.code).toBe(5);
    expect(json(none.stdout).error.code).toBe("no_key");

    // a terminal registered before keys existed (its config has no key, the server publishes none)
    const old = makeUser(root, "old", server.base);
    const t = await new PushdropClient({ server: server.base }).register("old");
    mkdirSync(path.join(old.env.XDG_CONFIG_HOME!, "pushdrop"), { recursive: true });
    writeFileSync(
      path.join(old.env.XDG_CONFIG_HOME!, "pushdrop", "config.json"),
      JSON.stringify({ server: server.base, terminals: { [server.base]: { id: t.id, name: "old", token: t.token } } }),
      { mode: 0o600 },
    );
    expect((await new PushdropClient({ server: server.base }).lookup(t.id)).key).toBeNull();
    const inbox = await runCli(old, ["inbox"]);
    expect(inbox.code, inbox.stderr).toBe(0);
    const made = configOf(old).terminals[server.base].keys;
    expect(made).toHaveLength(1);
    expect((await new PushdropClient({ server: server.base }).lookup(t.id)).key).toBe(made[0].recipient);
  });

  it("a key the server changes for a pinned contact makes send refuse, in words; verifying the new number lets it through", async () => {
    const file = path.join(root, "after-change.txt");
    writeFileSync(file, "after the change\n");
    // someone with bob's token (or the server) publishes a key of theirs
    const swapped = await generateIdentity();
    await new PushdropClient({ server: server.base, token: tokenOf(bob) }).publishKey(bob.id!, swapped.recipient);
    const refused = await runCli(alice, ["send", file, "--to", bob.id!, "--json"]);
    expect(refused.code).toBe(5);
    expect(json(refused.stdout).error.code).toBe("key_changed");
    expect(refused.stderr).toContain("Nothing was sent");
    expect(refused.stderr).toContain("is not the one this computer pinned");
    expect(refused.stderr).toContain(`pushdrop key verify ${bob.id}`);
    expect(readdirSync(sendsDir(alice))).toEqual([]);
    // bob's own CLI says loudly that the server publishes another key
    const who = await runCli(bob, ["whoami", "--json"]);
    expect(json(who.stdout).keyPublished).toBe(false);
    expect(who.stderr).toContain("WARNING");
    // alice compares the new number (here: computed for the swapped key) and accepts it
    const mine = configOf(alice).terminals[server.base].keys[0].recipient as string;
    const n = safetyNumber({ id: alice.id!, key: mine }, { id: bob.id!, key: swapped.recipient });
    expect((await runCli(alice, ["key", "verify", bob.id!, n])).code).toBe(0);
    const again = await runCli(alice, ["send", file, "--to", bob.id!]);
    expect(again.code, again.stderr).toBe(0);
    // and a rotate puts bob's own key back (published, whoami content again)
    const rot = await runCli(bob, ["key", "rotate", "--json"]);
    expect(rot.code, rot.stderr).toBe(0);
    expect(json((await runCli(bob, ["whoami", "--json"])).stdout).keyPublished).toBe(true);
    expect(configOf(bob).terminals[server.base].keys).toHaveLength(2); // the old one kept for what was sealed to it
    expect(existsSync(sendsDir(alice)) ? readdirSync(sendsDir(alice)) : []).toEqual([]);
  });
});

describe("a seal made by hand (a sender that is not pushdrop)", () => {
  /** A sealed transfer alice makes through the API to bob: `names` and `plain` as its seal says them (`lie` changes what the seal says of file 0's SHA-256). */
  async function handmade(names: string[], plain: Buffer[], lie = false): Promise<string> {
    const bobKey = (await new PushdropClient({ server: server.base }).lookup(bob.id!)).key!;
    const c = new PushdropClient({ server: server.base, token: tokenOf(alice) });
    const sealedFiles: Blob[] = [];
    const files: SealDraft["files"] = [];
    for (const [k, p] of plain.entries()) {
      const sealed = await sealStream(new Blob([p]).stream() as unknown as ReadableStream<Uint8Array>, [bobKey]);
      sealedFiles.push(await new Response(sealed.stream).blob());
      const sha256 = (await sealed.digest).sha256;
      files.push({ index: k, name: names[k]!, type: "text/plain", size: p.length, sha256: lie && k === 0 ? sha256.replace(/^./, (x) => (x === "0" ? "1" : "0")) : sha256 });
    }
    const draft: SealDraft = { from: alice.id!, to: [bob.id!], message: null, files };
    const t = await c.createTransfer({ to: [bob.id!], sealed: true, message: null, files: sealedFileSpecs(draft, 1) } as never);
    const seal = await sealDocument(draft, t.id, [bobKey]);
    await uploadFiles(c, t, [...sealedFiles, new Blob([seal as Uint8Array<ArrayBuffer>])]);
    return t.id;
  }

  it("names with invisible or reordering characters are written as the name rule cleans them (\"evil\u202etxt.exe\" is eviltxt.exe), as a plain transfer's are", async () => {
    const names = ["evil\u202etxt.exe", "\u2066zero\u200bwidth\ufeff.txt", "line\u2028break.txt"];
    const plain = names.map((_, k) => Buffer.from(`file ${k}\n`));
    const id = await handmade(names, plain);
    const D = path.join(root, "bob-cleaned");
    mkdirSync(D);
    const got = await runCli(bob, ["get", id, "--dir", D, "--json"]);
    expect(got.code, got.stderr).toBe(0);
    const written = readdirSync(D).filter((n) => !n.startsWith(".pushdrop-")).sort();
    expect(written).toEqual(["eviltxt.exe", "linebreak.txt", "zerowidth.txt"]);
    expect(readFileSync(path.join(D, "eviltxt.exe")).equals(plain[0]!)).toBe(true);
    // and what get says names the same
    expect(JSON.stringify(json(got.stdout))).not.toMatch(/[\u202e\u2066\u200b\ufeff\u2028]/);
  });

  it("a file that is not what its seal says: exit 5, and nothing is kept in --dir, the package's .part neither", async () => {
    const id = await handmade(["a.txt", "b.txt"], [Buffer.from("one\n"), Buffer.from("two\n")], true);
    const D = path.join(root, "bob-lied-to");
    mkdirSync(D);
    const got = await runCli(bob, ["get", id, "--dir", D, "--json"]);
    expect(got.code, got.stderr).toBe(5);
    expect(json(got.stdout).error.code).toBe("checksum_mismatch");
    expect(got.stderr).toContain("nothing was kept");
    expect(readdirSync(D)).toEqual([]);
  });
});
