import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushdropClient } from "../../client";
import { generateIdentity, safetyNumber } from "../../client/seal";
import type { Server } from "../node/support/server.ts";
import { CountingProxy, makeUser, registerUser, runCli, spawnCli, until, setUpStage, tearDownStage, type Stage, type User } from "./support/cli.ts";

/**
 * The CLI's sealing defaults and key handling (issue 23, "Defaults" and "Trust"), with the real
 * `pushdrop` against `npm start`: a send to a recipient without a key is refused unless
 * `--plain`; the CLI's own key against what the server publishes; key verify; status of a sealed
 * transfer; the seal fetched once.
 */

let server: Server;
let root: string;
let alice: User;
let bob: User;

const json = (s: string) => JSON.parse(s) as Record<string, any>;
const configOf = (u: User) => json(readFileSync(path.join(u.env.XDG_CONFIG_HOME!, "pushdrop", "config.json"), "utf8"));
const tokenOf = (u: User) => configOf(u).terminals[server.base].token as string;
const shownId = (id: string) => id.replace(/(\d{3})(\d{3})(\d{3})/, "$1 $2 $3");
const clientOf = (u: User) => new PushdropClient({ server: server.base, token: tokenOf(u) });

const stage: Stage = { users: [] };
beforeAll(async () => {
  await setUpStage(stage, "pushdrop-trust-", ["alice", "bob"]);
  ({ server, root } = stage as Required<Stage>);
  [alice, bob] = stage.users as [User, User];
}, 180_000);
afterAll(() => tearDownStage(stage));

describe("a recipient without a key (issue 23, Defaults)", () => {
  it("is refused unless --plain: the keyless ids named, --plain explained, exit 2, nothing sent to anyone", async () => {
    // a curl-only terminal: registered with the raw API, it never publishes a key
    const curl = await new PushdropClient({ server: server.base }).register("curl box");
    const cc = new PushdropClient({ server: server.base, token: curl.token });
    const file = path.join(root, "for-curl.txt");
    writeFileSync(file, "for the curl box\n");

    const refused = await runCli(alice, ["send", file, "--to", `${bob.id},${curl.id}`, "--message", "hi both", "--json"]);
    expect(refused.code, refused.stderr).toBe(2);
    expect(json(refused.stdout)).toEqual({
      error: { code: "recipient_without_key", kind: "usage", message: expect.stringContaining("--plain"), details: { keyless: [curl.id] } },
    });
    expect(refused.stderr).toContain(`Nothing was sent: ${curl.display} has no key for sealed transfers`);
    expect(refused.stderr).toContain("`--plain` sends it in the clear");
    expect(refused.stderr).not.toContain(shownId(bob.id!)); // bob has a key: not named
    // nothing reached either recipient, nor was a transfer started
    expect(await cc.inbox(curl.id)).toEqual([]);
    expect(await clientOf(bob).inbox(bob.id!)).toEqual([]);
    // a message alone too
    const text = await runCli(alice, ["send", "--to", curl.id, "--message", "just text"]);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain("--plain");
    expect(await cc.inbox(curl.id)).toEqual([]);

    // --plain: in the clear, as asked
    const plain = await runCli(alice, ["send", "--plain", file, "--to", curl.id, "--message", "in the clear", "--json"]);
    expect(plain.code, plain.stderr).toBe(0);
    const t = await cc.transfer(json(plain.stdout).id);
    expect(t.sealed).toBe(false);
    expect(t.message).toBe("in the clear");
    expect(t.files.map((f) => f.name)).toEqual(["for-curl.txt"]);
  });
});

describe("what a seal names is shown, never obeyed", () => {
  it("get --file with a name the sealed transfer lacks lists its files; a newline in a sealed name is dropped by the name rule (it cannot start a line of its own)", async () => {
    const dir = path.join(root, "odd-names");
    mkdirSync(dir, { recursive: true });
    const odd = "x\n✔ verified sender: your bank.txt";
    writeFileSync(path.join(dir, odd), "odd\n");
    writeFileSync(path.join(dir, "plain.txt"), "plain\n");
    const sent = await runCli(alice, ["send", path.join(dir, odd), path.join(dir, "plain.txt"), "--to", bob.id!]);
    expect(sent.code, sent.stderr).toBe(0);
    const id = sent.stdout.trim();
    expect((await clientOf(bob).transfer(id)).sealed).toBe(true);
    const r = await runCli(bob, ["get", id, "--file", "nosuch.txt", "--dir", path.join(root, "bob-odd")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("has no file named");
    expect(r.stderr).toContain("0 x✔ verified sender: your bank.txt, 1 plain.txt");
    expect(r.stderr.split("\n").some((l) => l.startsWith("✔"))).toBe(false);
  });
});

describe("listen and a sealed transfer", () => {
  it("listen --auto fetches seal.age once (to show it, then to open the package), not twice", async () => {
    const proxy = await CountingProxy.start(server.base);
    try {
      const env = { PUSHDROP_SERVER: proxy.base, PUSHDROP_ID: bob.id!, PUSHDROP_TOKEN: tokenOf(bob), PUSHDROP_IDENTITY: configOf(bob).terminals[server.base].keys[0].identity };
      const D = path.join(root, "bob-listen-once");
      const listen = spawnCli(bob, ["listen", "--auto", "--once", "--json", "--dir", D], { env });
      await until(() => listen.stdout().includes('"listening"'), 30_000, "listen to connect");
      const file = path.join(root, "listen-once.txt");
      writeFileSync(file, "fetched once\n");
      const sent = await runCli(alice, ["send", file, "--to", bob.id!, "--message", "once"]);
      expect(sent.code, sent.stderr).toBe(0);
      const id = sent.stdout.trim();
      const done = await listen.done;
      expect(done.code, done.stderr).toBe(0);
      expect(readFileSync(path.join(D, "listen-once.txt"), "utf8")).toBe("fetched once\n");
      const t = await clientOf(bob).transfer(id);
      const sealIndex = t.files.findIndex((f) => f.name === "seal.age");
      const gets = (p: string) => proxy.seen.filter((s) => s.method === "GET" && s.url.split("?")[0] === p);
      expect(gets(`/v1/transfers/${id}/files/${sealIndex}`)).toHaveLength(1);
      expect(gets(`/v1/transfers/${id}/package`)).toHaveLength(1);
    } finally {
      await proxy.close();
    }
  });
});

describe("this computer's own key against what the server publishes", () => {
  it("a key the server already publishes when this computer makes its first one is not overwritten: a loud warning, until key rotate", async () => {
    // a terminal registered before keys existed: its config has no key
    const old = makeUser(root, "old", server.base);
    const t = await new PushdropClient({ server: server.base }).register("old");
    mkdirSync(path.join(old.env.XDG_CONFIG_HOME!, "pushdrop"), { recursive: true });
    writeFileSync(
      path.join(old.env.XDG_CONFIG_HOME!, "pushdrop", "config.json"),
      JSON.stringify({ server: server.base, terminals: { [server.base]: { id: t.id, name: "old", token: t.token } } }),
      { mode: 0o600 },
    );
    // meanwhile someone with its token published a key of theirs
    const thief = await generateIdentity();
    await new PushdropClient({ server: server.base, token: t.token }).publishKey(t.id, thief.recipient);
    const who = await runCli(old, ["whoami", "--json"]);
    expect(who.code, who.stderr).toBe(0);
    expect(json(who.stdout).keyPublished).toBe(false);
    expect(who.stderr).toContain(`WARNING: ${server.base} publishes a key for ${t.display} that is not this computer's (${thief.recipient})`);
    expect(who.stderr).toContain("made one just now; it did not replace the one the server publishes");
    expect((await new PushdropClient({ server: server.base }).lookup(t.id)).key).toBe(thief.recipient); // not overwritten
    const made = configOf(old).terminals[server.base].keys;
    expect(made).toHaveLength(1);
    // and on the next command too (no longer "made now"): still not overwritten, still said
    const again = await runCli(old, ["inbox"]);
    expect(again.stderr).toContain("WARNING");
    expect((await new PushdropClient({ server: server.base }).lookup(t.id)).key).toBe(thief.recipient);
    // the person takes it back on purpose
    const rot = await runCli(old, ["key", "rotate"]);
    expect(rot.code, rot.stderr).toBe(0);
    const now = configOf(old).terminals[server.base].keys[0].recipient;
    expect((await new PushdropClient({ server: server.base }).lookup(t.id)).key).toBe(now);
    expect(json((await runCli(old, ["whoami", "--json"])).stdout).keyPublished).toBe(true);
  });

  it("key export after a rotate prints every kept identity, the current one first: age -d -i opens what was sealed to the older key", async () => {
    const { user: dora, out: reg } = await registerUser(root, "dora", server.base);
    const first = reg.key as string;
    // sealed to the first key (as a sender did before the rotate)
    const sealedFile = path.join(root, "to-dora-old.age");
    execFileSync("age", ["-r", first, "-o", sealedFile], { input: "before the rotate\n" });
    expect((await runCli(dora, ["key", "rotate"])).code).toBe(0);
    const exp = await runCli(dora, ["key", "export", "--json"]);
    expect(exp.code, exp.stderr).toBe(0);
    const out = json(exp.stdout);
    expect(out.identities).toHaveLength(2);
    expect(out.identities[0]).toBe(out.identity);
    const human = await runCli(dora, ["key", "export"]);
    expect(human.stdout).toMatch(/^(AGE-SECRET-KEY-1[0-9A-Z]{58}\n){2}$/);
    expect(human.stdout.split("\n")[0]).toBe(out.identity);
    const idFile = path.join(root, "dora.identities");
    writeFileSync(idFile, human.stdout, { mode: 0o600 });
    expect(execFileSync("age", ["-d", "-i", idFile, sealedFile], { encoding: "utf8" })).toBe("before the rotate\n");
    // the current one is the first: age-keygen -y gives its recipient first, the one the server publishes
    const recipients = execFileSync("age-keygen", ["-y", idFile], { encoding: "utf8" }).trim().split("\n");
    expect(recipients[0]).toBe((await new PushdropClient({ server: server.base }).lookup(dora.id!)).key);
    expect(recipients[1]).toBe(first);
  });

  it("an older key of this computer's on the server (a rotate that did not get published) is replaced by the current one, without a false alarm", async () => {
    const { user: carol, out: reg } = await registerUser(root, "carol", server.base);
    const first = reg.key as string;
    expect((await runCli(carol, ["key", "rotate"])).code).toBe(0);
    const current = configOf(carol).terminals[server.base].keys[0].recipient as string;
    expect(current).not.toBe(first);
    await clientOf(carol).publishKey(carol.id!, first); // the older one back on the server
    const who = await runCli(carol, ["whoami", "--json"]);
    expect(who.code, who.stderr).toBe(0);
    expect(who.stderr).not.toContain("WARNING");
    expect(who.stderr).toContain("the server still had an older one of this computer's");
    expect(json(who.stdout).keyPublished).toBe(true);
    expect((await new PushdropClient({ server: server.base }).lookup(carol.id!)).key).toBe(current);
  });
});

describe("status of a sealed transfer", () => {
  it("shows the sender the real names and message it sealed (never 1.age …), or 'sealed, N files' without a record; a recipient, from the seal", async () => {
    const dir = path.join(root, "status-src");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "report.pdf"), "pdf\n");
    writeFileSync(path.join(dir, "photo.jpg"), "jpeg bytes\n");
    const sent = await runCli(alice, ["send", path.join(dir, "report.pdf"), path.join(dir, "photo.jpg"), "--to", bob.id!, "--message", "the status note"]);
    expect(sent.code, sent.stderr).toBe(0);
    const id = sent.stdout.trim();
    expect((await clientOf(alice).transfer(id)).files.map((f) => f.name)).toEqual(["1.age", "2.age", "seal.age"]);

    const st = await runCli(alice, ["status", id]);
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain("🔒 2 sealed files, 15 B");
    expect(st.stdout).toContain("  │ the status note\n");
    expect(st.stdout).toContain("  report.pdf  4 B\n");
    expect(st.stdout).toContain("  photo.jpg  11 B\n");
    expect(st.stdout).not.toMatch(/\d\.age|seal\.age/);
    const asJson = json((await runCli(alice, ["status", id, "--json"])).stdout);
    expect(asJson.seal).toMatchObject({ message: "the status note", files: [{ name: "report.pdf", size: 4 }, { name: "photo.jpg", size: 11 }] });
    // the sender's get: refused in words before any download (sealed to the recipients' keys only)
    const own = await runCli(alice, ["get", id, "--dir", path.join(root, "alice-own"), "--json"]);
    expect(own.code).toBe(5);
    expect(json(own.stdout).error).toMatchObject({ code: "cannot_open", kind: "integrity" });
    expect(json(own.stdout).error.message).toContain("only its recipients can open it");
    expect(existsSync(path.join(root, "alice-own"))).toBe(false);
    // the record is private to its owner
    const sentDir = path.join(alice.env.XDG_STATE_HOME!, "pushdrop", "sent");
    expect(statSync(sentDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(sentDir)) expect(statSync(path.join(sentDir, f)).mode & 0o777).toBe(0o600);

    // without the record (another computer, or it was deleted): what the server knows, in words
    rmSync(sentDir, { recursive: true, force: true });
    const bare = await runCli(alice, ["status", id]);
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.stdout).toContain("🔒 sealed, 2 files");
    expect(bare.stdout).toContain("only the recipients can read them");
    expect(bare.stdout).not.toMatch(/\d\.age|seal\.age/);
    // a sealed message alone (seal.age alone) is one, not "0 files"
    const note = await runCli(alice, ["send", "--to", bob.id!, "--message", "a sealed note"]);
    expect(note.code, note.stderr).toBe(0);
    rmSync(sentDir, { recursive: true, force: true });
    const noteStatus = await runCli(alice, ["status", note.stdout.trim()]);
    expect(noteStatus.code, noteStatus.stderr).toBe(0);
    expect(noteStatus.stdout).toContain("🔒 a sealed message  [");
    expect(noteStatus.stdout).not.toContain("0 files");

    // the recipient: from the seal (fetched alone, which counts as no download)
    const theirs = await runCli(bob, ["status", id]);
    expect(theirs.code, theirs.stderr).toBe(0);
    expect(theirs.stdout).toContain("  report.pdf  4 B\n");
    expect(theirs.stdout).not.toMatch(/\d\.age|seal\.age/);
    const after = await clientOf(bob).transfer(id);
    expect(after.downloads).toBe(0);
    expect(after.recipients[0]!.downloadedAt).toBeNull();
  });
});

describe("trust (issue 23): share links, key changes, key verify", () => {
  it("--to <share link>: its key must be what the server publishes (else refused), pins it on first use, and never re-pins a contact", async () => {
    const { user: dave, out: reg } = await registerUser(root, "dave", server.base);
    const daveKey = reg.key as string;
    const link = json((await runCli(dave, ["whoami", "--json"])).stdout).shareUrl as string;
    expect(link).toBe(`${server.base}/?to=${dave.id}#k=${daveKey}`);
    const file = path.join(root, "for-dave.txt");
    writeFileSync(file, "for dave\n");
    const pinOf = () => configOf(alice).pins?.[server.base]?.[dave.id!] ?? null;

    // a link whose key is not the server's: refused, nothing sent, nothing pinned
    const forged = `${server.base}/?to=${dave.id}#k=${(await generateIdentity()).recipient}`;
    const refused = await runCli(alice, ["send", file, "--to", forged, "--json"]);
    expect(refused.code, refused.stderr).toBe(5);
    expect(json(refused.stdout).error).toMatchObject({ code: "link_refused", kind: "integrity", details: { id: dave.id, published: daveKey } });
    expect(refused.stderr).toContain("carries a key that is not the one the server publishes for it");
    expect(pinOf()).toBeNull();
    expect(await clientOf(dave).inbox(dave.id!)).toEqual([]);
    // the refusal is kept: sent by id, the server's key is not trusted on first use either
    expect(configOf(alice).refused?.[server.base]?.[dave.id!]).toBe(new URL(forged).hash.slice(3));
    const byId = await runCli(alice, ["send", file, "--to", dave.id!, "--json"]);
    expect(byId.code, byId.stderr).toBe(5);
    expect(json(byId.stdout).error).toMatchObject({ code: "link_refused", details: { id: dave.id, published: daveKey } });
    expect(byId.stderr).toContain("does not trust the server's key on first use");
    expect(pinOf()).toBeNull();
    expect(await clientOf(dave).inbox(dave.id!)).toEqual([]);

    // the right link: sealed, and the key pinned (the kept refusal ends)
    const ok = await runCli(alice, ["send", file, "--to", link, "--json"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout)).toMatchObject({ sealed: true, to: [dave.id] });
    expect(pinOf()).toMatchObject({ key: daveKey, verified: false });
    expect(configOf(alice).refused?.[server.base]?.[dave.id!]).toBeUndefined();

    // the server now publishes another key, and a link carries it: a key change, not a re-pin
    const swapped = await generateIdentity();
    await clientOf(dave).publishKey(dave.id!, swapped.recipient);
    const viaNewLink = await runCli(alice, ["send", file, "--to", `${server.base}/?to=${dave.id}#k=${swapped.recipient}`, "--json"]);
    expect(viaNewLink.code).toBe(5);
    expect(json(viaNewLink.stdout).error.code).toBe("key_changed");
    expect(viaNewLink.stderr).toContain("a link never replaces a pinned key");
    expect(pinOf()).toMatchObject({ key: daveKey });
    // the old link (the pinned key) now contradicts the server: refused too
    const viaOldLink = await runCli(alice, ["send", file, "--to", link, "--json"]);
    expect(viaOldLink.code).toBe(5);
    expect(json(viaOldLink.stdout).error.code).toBe("link_refused");
    // --plain takes a link's id and sends in the clear, as asked
    const plain = await runCli(alice, ["send", "--plain", file, "--to", link, "--json"]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(json(plain.stdout)).toMatchObject({ sealed: false, to: [dave.id] });
    // not a share link at all: a usage error
    expect((await runCli(alice, ["send", file, "--to", `${server.base}/?x=1`])).code).toBe(2);
    await clientOf(dave).publishKey(dave.id!, daveKey);
  });

  it("key verify: says when the published key is not the pinned one; a verified contact's change blocks sealing until verified again; not for this terminal itself", async () => {
    const { user: erin, out: reg } = await registerUser(root, "erin", server.base);
    const mine = configOf(alice).terminals[server.base].keys[0].recipient as string;
    const number = (key: string) => safetyNumber({ id: alice.id!, key: mine }, { id: erin.id!, key });
    const file = path.join(root, "for-erin.txt");
    writeFileSync(file, "for erin\n");

    // verified on the key erin made
    expect((await runCli(alice, ["key", "verify", erin.id!, number(reg.key)])).code).toBe(0);
    expect((await runCli(alice, ["send", file, "--to", erin.id!])).code).toBe(0);

    // erin's key changes: sending stops, and key verify says this number is for a new key
    const k2 = await generateIdentity();
    await clientOf(erin).publishKey(erin.id!, k2.recipient);
    const stopped = await runCli(alice, ["send", file, "--to", erin.id!, "--json"]);
    expect(stopped.code).toBe(5);
    expect(json(stopped.stdout).error.code).toBe("key_changed");
    expect(stopped.stderr).toContain("and you verified");
    const shownNumber = await runCli(alice, ["key", "verify", erin.id!, "--json"]);
    expect(shownNumber.code, shownNumber.stderr).toBe(0);
    expect(json(shownNumber.stdout)).toMatchObject({ key: k2.recipient, safetyNumber: number(k2.recipient), keyChanged: true });
    expect(shownNumber.stderr).toContain("is not the one this computer pinned");
    expect(shownNumber.stderr).toContain("and you verified: this number is for the new key");
    // the old number no longer verifies; the new one does, and sealing goes on
    expect((await runCli(alice, ["key", "verify", erin.id!, number(reg.key)])).code).toBe(5);
    expect((await runCli(alice, ["send", file, "--to", erin.id!])).code).toBe(5);
    expect((await runCli(alice, ["key", "verify", erin.id!, number(k2.recipient)])).code).toBe(0);
    expect(configOf(alice).pins[server.base][erin.id!]).toMatchObject({ key: k2.recipient, verified: true });
    const again = await runCli(alice, ["send", file, "--to", erin.id!]);
    expect(again.code, again.stderr).toBe(0);

    // this terminal itself has a fingerprint (whoami), not a safety number
    const self = await runCli(alice, ["key", "verify", alice.id!]);
    expect(self.code).toBe(2);
    expect(self.stderr).toContain("pushdrop whoami");
  });
});

describe("key accept", () => {
  it("takes a contact's new key in place of an unverified pin; a verified contact must be verified again instead", async () => {
    const { user: frank, out: reg } = await registerUser(root, "frank", server.base);
    const file = path.join(root, "for-frank.txt");
    writeFileSync(file, "for frank\n");
    const pin = () => configOf(alice).pins[server.base][frank.id!];
    expect((await runCli(alice, ["send", file, "--to", frank.id!])).code).toBe(0); // pinned on first use
    const nothing = await runCli(alice, ["key", "accept", frank.id!]);
    expect(nothing.code, nothing.stderr).toBe(0);
    expect(nothing.stdout).toContain("Nothing to accept");

    const k2 = await generateIdentity();
    await clientOf(frank).publishKey(frank.id!, k2.recipient);
    expect((await runCli(alice, ["send", file, "--to", frank.id!])).code).toBe(5);
    const hint = await runCli(alice, ["key", "verify", frank.id!]);
    expect(hint.stderr).toContain(`pushdrop key accept ${frank.id}`);
    const accepted = await runCli(alice, ["key", "accept", frank.id!, "--json"]);
    expect(accepted.code, accepted.stderr).toBe(0);
    expect(json(accepted.stdout)).toMatchObject({ changed: true, key: k2.recipient, replaced: reg.key, verified: false });
    expect(pin()).toMatchObject({ key: k2.recipient, verified: false });
    expect((await runCli(alice, ["send", file, "--to", frank.id!])).code).toBe(0);

    // verified, then changed again: accepting is not enough
    const mine = configOf(alice).terminals[server.base].keys[0].recipient as string;
    expect((await runCli(alice, ["key", "verify", frank.id!, safetyNumber({ id: alice.id!, key: mine }, { id: frank.id!, key: k2.recipient })])).code).toBe(0);
    const k3 = await generateIdentity();
    await clientOf(frank).publishKey(frank.id!, k3.recipient);
    const refused = await runCli(alice, ["key", "accept", frank.id!, "--json"]);
    expect(refused.code).toBe(5);
    expect(json(refused.stdout).error.code).toBe("reverify");
    expect(refused.stderr).toContain(`pushdrop key verify ${frank.id} <number>`);
    expect(pin()).toMatchObject({ key: k2.recipient, verified: true });
    expect((await runCli(alice, ["send", file, "--to", frank.id!])).code).toBe(5);
  });
});
