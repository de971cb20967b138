import { runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signDownload } from "../../src/auth/signing";
import { renderMessage } from "../../src/notify/links";
import type { Terminal } from "../../src/notify/terminal";
import type { ServerMessage } from "../../src/contract";
import { api, bytes, env, eventually, getTransfer, json, openSocket, outboxOf, register, sendFiles, sha256, terminalStub, type TestTerminal } from "./helpers";

/**
 * Issue 21 items 2 and 4: every link a recipient is given points at the service's own origin
 * (PUBLIC_URL, else an origin the recipient itself used), and a signed link dies with the
 * token generation that minted it and with its terminal.
 */

const withToken = (t: TestTerminal, token: string): TestTerminal => ({ ...t, token, auth: { authorization: `Bearer ${token}` } });

async function rotate(t: TestTerminal): Promise<TestTerminal> {
  const res = await api(`/v1/terminals/${t.id}/token`, { method: "POST", headers: t.auth });
  expect(res.status).toBe(200);
  return withToken(t, (await json(res)).token);
}

const b64url = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const pathOf = (url: string) => {
  const u = new URL(url);
  return u.pathname + u.search;
};

async function expectRevoked(url: string) {
  const res = await api(pathOf(url));
  expect(res.status, url).toBe(403);
  expect((await json(res)).error.code).toBe("link_revoked");
}

/** What the worker answers a request made at `origin` (a client-chosen Host header). */
const at = (origin: string, path: string, init: RequestInit = {}) => exports.default.fetch(new Request(`${origin}${path}`, init));

describe("a signed link dies with its token generation and its terminal", () => {
  it("after POST …/token the old downloadUrl (package and files) is 403 link_revoked; fresh links work", async () => {
    const alice = await register("rev-a");
    const bob = await register("rev-b");
    const data = bytes(500, 7);
    const t = await sendFiles(alice, [bob], [{ name: "r.bin", data }]);
    const before = await getTransfer(bob, t.id);
    expect(new URL(before.downloadUrl).searchParams.get("g")).toBe("1");
    expect((await api(pathOf(before.files[0].downloadUrl))).status).toBe(200);

    const bob2 = await rotate(bob);
    await expectRevoked(before.downloadUrl);
    await expectRevoked(before.files[0].downloadUrl);
    // even with a range, and even with the new token attached: the link decides
    const ranged = await api(pathOf(before.downloadUrl), { headers: { range: "bytes=0-3", ...bob2.auth } });
    expect(ranged.status).toBe(403);

    const after = await getTransfer(bob2, t.id);
    expect(new URL(after.downloadUrl).searchParams.get("g")).toBe("2");
    const file = await api(pathOf(after.files[0].downloadUrl));
    expect(file.status).toBe(200);
    expect(await sha256(await file.arrayBuffer())).toBe(await sha256(data));
    // a second rotation revokes the second generation's links too
    await rotate(bob2);
    await expectRevoked(after.files[0].downloadUrl);
  });

  it("after DELETE /v1/terminals/{id} the recipient's old link is 403 link_revoked; another recipient's still works", async () => {
    const alice = await register("del-a");
    const bob = await register("del-b");
    const carol = await register("del-c");
    const t = await sendFiles(alice, [bob, carol], [{ name: "d.txt", data: bytes(40, 2) }]);
    const bobs = (await getTransfer(bob, t.id)).downloadUrl;
    const carols = (await getTransfer(carol, t.id)).downloadUrl;
    expect((await api(`/v1/terminals/${bob.id}`, { method: "DELETE", headers: bob.auth })).status).toBe(204);
    await expectRevoked(bobs);
    expect((await api(pathOf(carols))).status).toBe(200);
  });

  it("a link whose generation was changed is invalid (g is signed); a pre-generation link (dl1) lives until the first rotation", async () => {
    const alice = await register("g-a");
    const bob = await register("g-b");
    const t = await sendFiles(alice, [bob], [{ name: "g.txt", data: bytes(30, 4) }]);
    const url = new URL((await getTransfer(bob, t.id)).downloadUrl);
    url.searchParams.set("g", "3");
    const forged = await api(url.pathname + url.search);
    expect(forged.status).toBe(403);
    expect((await json(forged)).error.code).toBe("invalid_link");
    for (const g of ["0", "-1", "x", ""]) {
      url.searchParams.set("g", g);
      expect((await api(url.pathname + url.search)).status, g).toBe(403);
    }

    // the format links had before generations: "dl1.<transfer>.<recipient>.<exp>", no g
    const exp = Math.floor(Date.parse(t.expiresAt) / 1000);
    const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(env.SIGNING_KEY), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`dl1.${t.id}.${bob.id}.${exp}`)));
    const sig = b64url(mac);
    const legacy = `https://pushdrop.test/v1/transfers/${t.id}/package?${new URLSearchParams({ r: bob.id, exp: String(exp), sig })}`;
    expect((await api(pathOf(legacy), { headers: { range: "bytes=0-1" } })).status).toBe(206);
    await rotate(bob);
    await expectRevoked(legacy);
    // a link signed for a generation newer than D1's (a rotation under way) is accepted
    const ahead = await signDownload(env.SIGNING_KEY, t.id, bob.id, 3, exp);
    expect((await api(`/v1/transfers/${t.id}/package?${ahead}`, { headers: { range: "bytes=0-1" } })).status).toBe(206);
  });
});

describe("queued messages get their links when they are sent", () => {
  it("a transfer.ready queued before a rotation and replayed after carries a link that works", async () => {
    const alice = await register("q-a");
    const bob = await register("q-b");
    const data = bytes(300, 9);
    const t = await sendFiles(alice, [bob], [{ name: "q.bin", data }]);
    // queued while bob was away: stored unsigned (and, with no PUBLIC_URL, with relative links)
    const [row] = await eventually(async () => {
      const rows = (await outboxOf(bob.id)).filter((r) => r.type === "transfer.ready");
      return rows.length > 0 ? rows : undefined;
    });
    expect(row!.body.transfer.downloadUrl).toBeNull();
    expect(row!.body.transfer.files[0].downloadUrl).toBeNull();

    // an old socket sees it signed for generation 1
    const first = await openSocket(bob);
    const [old] = await first.take(1);
    expect(new URL(old.transfer.downloadUrl).searchParams.get("g")).toBe("1");
    const bob2 = await rotate(bob);
    await eventually(async () => (first.isClosed() ? true : undefined), 5000, "old socket closed");

    const s = await openSocket(bob2);
    const [ready] = await s.take(1);
    expect(ready.id).toBe(`${t.id}.ready`);
    const u = new URL(ready.transfer.downloadUrl);
    expect(u.origin).toBe("https://pushdrop.test");
    expect(u.searchParams.get("g")).toBe("2");
    expect(u.searchParams.get("r")).toBe(bob.id);
    const file = await api(pathOf(ready.transfer.files[0].downloadUrl));
    expect(file.status).toBe(200);
    expect(await sha256(await file.arrayBuffer())).toBe(await sha256(data));
    await expectRevoked(old.transfer.downloadUrl);
    s.close();
  });

  it("PUBLIC_URL wins: a sender's forged Host reaches neither its own response nor the recipient's socket", async () => {
    const alice = await register("h-a");
    const bob = await register("h-b");
    const b = await openSocket(bob);
    const evil = "http://evil.example:4444";
    const res = await at(evil, `/v1/send/${bob.id}/e.txt`, { method: "PUT", headers: { ...alice.auth, "content-length": "5" }, body: "hello" });
    expect(res.status).toBe(201);
    const created = await json(res);
    expect(created.files[0].uploadUrl.startsWith("https://pushdrop.test/")).toBe(true);
    const [ready] = await b.take(1, 15_000);
    const links = [ready.transfer.downloadUrl, ...ready.transfer.files.flatMap((f: any) => [f.uploadUrl, f.downloadUrl])];
    for (const l of links) expect(l.startsWith("https://pushdrop.test/v1/"), l).toBe(true);
    expect(JSON.stringify(ready)).not.toContain("evil.example");
    // bob asking through another host still gets PUBLIC_URL
    const viewed = await json(await at("http://other.example", `/v1/transfers/${created.id}`, { headers: bob.auth }));
    expect(viewed.downloadUrl.startsWith("https://pushdrop.test/")).toBe(true);
    b.close();
  });
});

describe("a queued transfer.ready gets no links once maxDownloads is used up", () => {
  it("replayed after another recipient's start used the limit up: none for that one, still signed for the starter", async () => {
    const alice = await register("mx-a");
    const bob = await register("mx-b");
    const carol = await register("mx-c");
    const t = await sendFiles(alice, [bob, carol], [{ name: "m.bin", data: bytes(2000, 5) }], { maxDownloads: 1 });
    // queued for both while they were away (its copy says downloads 0)
    await eventually(async () => ((await outboxOf(carol.id)).some((r) => r.type === "transfer.ready") ? true : undefined));
    const start = await api(`/v1/transfers/${t.id}/files/0`, { headers: { ...bob.auth, range: "bytes=0-99" } });
    expect(start.status).toBe(206);
    await start.arrayBuffer();
    expect((await getTransfer(alice, t.id)).downloads).toBe(1);

    const c = await openSocket(carol);
    const [forCarol] = await c.take(1);
    expect(forCarol.id).toBe(`${t.id}.ready`);
    expect(forCarol.transfer.downloads).toBe(0); // the queued copy
    expect(forCarol.transfer.downloadUrl).toBeNull();
    expect(forCarol.transfer.files[0].downloadUrl).toBeNull();
    c.close();

    const b = await openSocket(bob);
    const [forBob] = await b.take(1);
    expect(new URL(forBob.transfer.downloadUrl).searchParams.get("r")).toBe(bob.id);
    const rest = await api(pathOf(forBob.transfer.files[0].downloadUrl), { headers: { range: "bytes=100-" } });
    expect(rest.status).toBe(206);
    await rest.arrayBuffer();
    b.close();
  });
});

describe("without PUBLIC_URL, links point at an origin the recipient itself used", () => {
  const noPublic = { ...env, PUBLIC_URL: "" };

  it("a queued transfer.ready is completed for the socket's origin and signed for the recipient's generation", async () => {
    const alice = await register("o-a");
    const bob = await register("o-b");
    // created through a forged Host
    const res = await at("http://evil.example:4444", `/v1/send/${bob.id}/o.txt`, { method: "PUT", headers: { ...alice.auth, "content-length": "2" }, body: "hi" });
    expect(res.status).toBe(201);
    const id = (await json(res)).id;
    const row = await eventually(async () => (await outboxOf(bob.id)).find((r) => r.type === "transfer.ready"));
    expect(JSON.stringify(row.body)).not.toContain("evil.example");
    const msg = row.body as ServerMessage;
    const forBob = (await renderMessage(noPublic, msg, bob.id, 4))("http://192.0.2.9:8787");
    if (forBob.type !== "transfer.ready") throw new Error("not ready");
    const u = new URL(forBob.transfer.downloadUrl!);
    expect(u.origin).toBe("http://192.0.2.9:8787");
    expect(u.searchParams.get("r")).toBe(bob.id);
    expect(u.searchParams.get("g")).toBe("4");
    expect(forBob.transfer.files[0]!.uploadUrl).toBe(`http://192.0.2.9:8787/v1/transfers/${id}/files/0`);
    // no origin known: relative (a browser resolves it against its own), never someone else's
    const nowhere = (await renderMessage(noPublic, msg, bob.id, 1))(null);
    if (nowhere.type !== "transfer.ready") throw new Error("not ready");
    expect(nowhere.transfer.downloadUrl!.startsWith(`/v1/transfers/${id}/package?`)).toBe(true);
    // another terminal that is not a recipient gets no signature
    const stranger = (await renderMessage(noPublic, msg, alice.id, 1))("http://x");
    if (stranger.type !== "transfer.ready") throw new Error("not ready");
    expect(stranger.transfer.downloadUrl).toBeNull();
    // PUBLIC_URL, when set, beats the socket's origin
    const configured = (await renderMessage(env, msg, bob.id, 1))("http://192.0.2.9:8787");
    if (configured.type !== "transfer.ready") throw new Error("not ready");
    expect(configured.transfer.downloadUrl!.startsWith("https://pushdrop.test/")).toBe(true);
  });

  it("the terminal's object remembers the origin of its own socket and push subscription, forgotten when the token is rotated", async () => {
    const bob = await register("m-b");
    const originOf = () => runInDurableObject(terminalStub(bob.id), async (instance: Terminal) => {
      const { meta } = instance as unknown as { meta: { origin: string | null; tokenGen: number } };
      return { origin: meta.origin, tokenGen: meta.tokenGen };
    });
    const lan = "http://192.0.2.44:8787";
    const res = await at(lan, `/v1/terminals/${bob.id}/socket?token=${bob.token}`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(101);
    res.webSocket!.accept();
    let meta = await originOf();
    expect(meta.origin).toBe(lan);
    expect(meta.tokenGen).toBe(1);
    const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
    const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    const put = await at("http://phone.lan:8787", `/v1/terminals/${bob.id}/push-subscription`, {
      method: "PUT",
      headers: { ...bob.auth, "content-type": "application/json" },
      body: JSON.stringify({ endpoint: `https://127.0.0.1:9/push/links-${bob.id}`, keys: { p256dh: b64url(raw), auth: b64url(crypto.getRandomValues(new Uint8Array(16))) } }),
    });
    expect(put.status).toBe(204);
    meta = await originOf();
    expect(meta.origin).toBe("http://phone.lan:8787");
    await rotate(bob);
    meta = await originOf();
    expect(meta.origin).toBeNull();
    expect(meta.tokenGen).toBe(2);
  });
});

describe("the last frame before a server-initiated close", () => {
  it("rotation: {type: error, code token_rotated, close: 4001}, then 4001; deletion: terminal_deleted, 4004", async () => {
    const t = await register("last-frame");
    const s = await openSocket(t);
    const t2 = await rotate(t);
    await eventually(async () => (s.isClosed() ? true : undefined), 5000, "closed");
    expect(s.frames).toEqual([{ type: "error", error: { code: "token_rotated", message: expect.any(String) }, close: 4001 }]);
    expect(s.closeCode()).toBe(4001);

    const again = await openSocket(t2);
    expect((await api(`/v1/terminals/${t.id}`, { method: "DELETE", headers: t2.auth })).status).toBe(204);
    await eventually(async () => (again.isClosed() ? true : undefined), 5000, "closed");
    expect(again.frames).toEqual([{ type: "error", error: { code: "terminal_deleted", message: expect.any(String) }, close: 4004 }]);
    expect(again.closeCode()).toBe(4004);
  });
});
