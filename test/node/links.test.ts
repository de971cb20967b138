import { createHash } from "node:crypto";
import { request } from "node:http";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveChannel, PushdropClient, type ChannelState, type WebSocketFactory } from "../../client";
import { PushService } from "./support/push-service.ts";
import { LiveSocket, register, removeState, startServer, type Server, type Terminal } from "./support/server.ts";

/**
 * Issue 21 items 2 and 8 against the real `npm start` (no PUBLIC_URL): a sender's forged Host
 * header never reaches a recipient's links, and a socket that never sent a frame learns at
 * once that the server closed it.
 */

let server: Server;
let svc: PushService;

beforeAll(async () => {
  // a local push service (./support/push-service.ts decrypts what it gets), allowed as an operator would
  svc = await PushService.start();
  server = await startServer({ env: { NODE_EXTRA_CA_CERTS: svc.certPath, PUSH_ENDPOINT_HOSTS: new URL(svc.origin).host } });
  svc.expectedKey = ((await (await fetch(`${server.base}/v1/push/vapid-public-key`)).json()) as { key: string }).key;
});
afterAll(async () => {
  await server?.stop();
  if (server) removeState(server.state);
  await svc?.close();
});

/** An HTTP request with a Host header of the caller's choosing (fetch does not let one set it). */
function rawRequest(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; body: any }> {
  const url = new URL(server.base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A raw socket that never sends a frame, recording what it receives and when. */
function quietSocket(t: Terminal) {
  const ws = new WebSocket(`${server.base.replace(/^http/, "ws")}/v1/terminals/${t.id}/socket?token=${encodeURIComponent(t.token)}`);
  const frames: Array<{ at: number; msg: any }> = [];
  let closed: { at: number; code: number } | null = null;
  ws.on("message", (d) => frames.push({ at: Date.now(), msg: JSON.parse(String(d)) }));
  ws.on("close", (code) => (closed = { at: Date.now(), code }));
  const opened = new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  return { ws, frames, opened, closed: () => closed };
}

async function until<T>(what: string, ms: number, check: () => T | null | undefined | false): Promise<T> {
  for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 25))) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  }
}

describe("links point at the service, not at a Host a sender chose", () => {
  it("curl -H 'Host: evil.example:4444' -T f …/v1/send/B/: B's socket, inbox and links use the real origin, and work", async () => {
    const a = await register(server.base, "host-a");
    const b = await register(server.base, "host-b");
    // a socket of B's opened at another name for this server (B's own choice), which has spoken
    // since (the server rewrites what it keeps of a socket each time it hears from it); then one
    // at the usual address, the origin B used last
    const lan = new WebSocket(`${server.base.replace(/^http/, "ws")}/v1/terminals/${b.id}/socket?token=${b.token}`, { headers: { host: "b.lan:8787" } });
    const lanFrames: any[] = [];
    lan.on("message", (d) => lanFrames.push(JSON.parse(String(d))));
    await new Promise((resolve, reject) => lan.once("open", resolve).once("error", reject));
    lan.send(JSON.stringify({ type: "ping" }));
    await until("pong", 5000, () => lanFrames.find((m) => m.type === "pong"));
    const live = await LiveSocket.open(server.base, b);
    const data = Buffer.from("forged host, real links\n");
    const sent = await rawRequest("PUT", `/v1/send/${b.id}/f.txt`, { host: "evil.example:4444", ...a.auth, "content-length": String(data.length) }, data);
    expect(sent.status).toBe(201);
    const ready = await live.next((m) => m.type === "transfer.ready" && m.transfer.id === sent.body.id);
    expect(JSON.stringify(ready)).not.toContain("evil.example");
    const t = ready.transfer;
    for (const link of [t.downloadUrl, ...t.files.flatMap((f: any) => [f.uploadUrl, f.downloadUrl])]) {
      expect(link.startsWith(`${server.base}/v1/transfers/${t.id}/`), link).toBe(true);
    }
    const file = await fetch(t.files[0].downloadUrl);
    expect(file.status).toBe(200);
    expect(createHash("sha256").update(Buffer.from(await file.arrayBuffer())).digest("hex")).toBe(createHash("sha256").update(data).digest("hex"));
    // B's other socket gets the same message with links at the origin it was opened at
    const onLan = await until("transfer.ready on the b.lan socket", 5000, () => lanFrames.find((m) => m.type === "transfer.ready"));
    expect(new URL(onLan.transfer.downloadUrl).origin).toBe("http://b.lan:8787");
    expect(new URL(onLan.transfer.downloadUrl).search).toBe(new URL(t.downloadUrl).search);
    lan.terminate();
    // what B fetches itself points where B asked
    const inbox: any = await (await fetch(`${server.base}/v1/terminals/${b.id}/inbox`, { headers: b.auth })).json();
    expect(inbox.transfers[0].downloadUrl.startsWith(`${server.base}/`)).toBe(true);
    await live.close();
  });
});

describe("pushed links point where the recipient itself was", () => {
  it("a push to B after a forged-Host send links to the origin B subscribed from, signed for B, and works", async () => {
    const a = await register(server.base, "push-a");
    const b = await register(server.base, "push-b");
    // B subscribes from its own (LAN) name for this server: its choice, for its own links
    const sub = svc.subscribe(`links-${b.id}`);
    const body = Buffer.from(JSON.stringify(sub));
    const put = await rawRequest("PUT", `/v1/terminals/${b.id}/push-subscription`, { host: "phone.lan:8787", ...b.auth, "content-type": "application/json", "content-length": String(body.length) }, body);
    expect(put.status).toBe(204);
    const data = Buffer.from("pushed\n");
    const sent = await rawRequest("PUT", `/v1/send/${b.id}/p.txt`, { host: "evil.example:4444", ...a.auth, "content-length": String(data.length) }, data);
    expect(sent.status).toBe(201);
    const [push] = await svc.waitFor(`links-${b.id}`, 1);
    expect(push!.payload).toMatchObject({ type: "transfer.ready", transfer: { id: sent.body.id } });
    expect(push!.text).not.toContain("evil.example");
    const link = new URL(push!.payload.transfer.files[0].downloadUrl);
    expect(link.origin).toBe("http://phone.lan:8787");
    expect(link.searchParams.get("r")).toBe(b.id);
    // phone.lan is this server: the same link, asked of it, gives the bytes
    const file = await fetch(`${server.base}${link.pathname}${link.search}`);
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer())).toEqual(data);
  });
});

describe("a push subscription made with a rotated-away token", () => {
  it("is still told of a transfer, but without signed links, until it is made again with the new token", async () => {
    const a = await register(server.base, "sub-a");
    const b = await register(server.base, "sub-b");
    const name = `rotated-${b.id}`;
    const sub = svc.subscribe(name);
    const put = (token: string) =>
      fetch(`${server.base}/v1/terminals/${b.id}/push-subscription`, { method: "PUT", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(sub) });
    expect((await put(b.token)).status).toBe(204);
    // (whoever subscribed with this token may not be the owner: the owner rotates)
    const rotated = await fetch(`${server.base}/v1/terminals/${b.id}/token`, { method: "POST", headers: b.auth });
    const fresh = ((await rotated.json()) as { token: string }).token;
    const send = async () => {
      const data = Buffer.from(`to ${b.id} at ${Date.now()}\n`);
      const res = await fetch(`${server.base}/v1/send/${b.id}/s.txt`, { method: "PUT", headers: { ...a.auth, "content-length": String(data.length) }, body: data });
      expect(res.status).toBe(201);
      return ((await res.json()) as { id: string }).id;
    };
    const first = await send();
    const [old] = await svc.waitFor(name, 1);
    expect(old!.payload).toMatchObject({ type: "transfer.ready", transfer: { id: first, downloadUrl: null, files: [{ downloadUrl: null }] } });
    expect(old!.text).not.toContain("sig=");
    // subscribed again with the new token: links again, signed for generation 2, and they work
    expect((await put(fresh)).status).toBe(204);
    const second = await send();
    const pushes = await svc.waitFor(name, 2);
    const link = new URL(pushes[1]!.payload.transfer.downloadUrl);
    expect(pushes[1]!.payload.transfer.id).toBe(second);
    expect(link.origin).toBe(server.base);
    expect(link.searchParams.get("g")).toBe("2");
    expect((await fetch(link, { headers: { range: "bytes=0-1" } })).status).toBe(206);
  });
});

describe("a socket that never sent a frame learns at once that it was closed", () => {
  it("on rotation: a last frame {type: error, close: 4001} at once, then the close with 4001", async () => {
    const c = await register(server.base, "quiet-c");
    const s = quietSocket(c);
    await s.opened;
    const asked = Date.now();
    const res = await fetch(`${server.base}/v1/terminals/${c.id}/token`, { method: "POST", headers: c.auth });
    expect(res.status).toBe(200);
    const last = await until("the closing frame", 3000, () => s.frames.find((f) => f.msg.type === "error"));
    expect(last.msg).toMatchObject({ type: "error", error: { code: "token_rotated" }, close: 4001 });
    // the close frame came with it: ws reports the code of a close frame it received (else 1006)
    // even when the connection is then cut by the client, as here, rather than waiting for the
    // runtime to end it (~10 s for a socket that never sent a frame: see Sockets.end)
    await new Promise((r) => setTimeout(r, 200));
    expect(s.closed()).toBeNull();
    s.ws.terminate();
    const closed = await until("the close event", 2000, () => s.closed());
    expect(closed.code).toBe(4001);
    console.log(JSON.stringify({ event: "quiet_close", frameMs: last.at - asked }));
  });

  it("over the socket cap: the quiet socket heard from longest ago gets {close: 4008} at once", async () => {
    const d = await register(server.base, "quiet-d");
    const first = quietSocket(d);
    await first.opened;
    const others = [];
    for (let i = 0; i < 20; i++) {
      const o = quietSocket(d);
      await o.opened;
      others.push(o);
    }
    const last = await until("the closing frame", 3000, () => first.frames.find((f) => f.msg.type === "error"));
    expect(last.msg).toMatchObject({ error: { code: "too_many_sockets" }, close: 4008 });
    expect(others.every((o) => o.frames.length === 0)).toBe(true);
    for (const o of [first, ...others]) o.ws.terminate();
  });

  it("the shared client (LiveChannel) stops within seconds of a rotation, though it has sent nothing", async () => {
    const anon = new PushdropClient({ server: server.base });
    const e = await anon.register("quiet-e");
    const states: ChannelState[] = [];
    const ch = new LiveChannel(new PushdropClient({ server: server.base, token: e.token }), e.id, {
      WebSocket: WebSocket as unknown as WebSocketFactory,
      onMessage: () => {},
      onState: (st) => states.push(st),
      backoffMs: () => 100,
    });
    await until("open", 5000, () => ch.current === "open");
    const res = await fetch(`${server.base}/v1/terminals/${e.id}/token`, { method: "POST", headers: { authorization: `Bearer ${e.token}` } });
    expect(res.status).toBe(200);
    // told at once, it tries again with the old token, is refused, and stops (well before the ~10 s
    // the runtime takes to end a quiet socket's connection)
    await until("closed", 4000, () => ch.current === "closed");
    expect(states).toContain("reconnecting");
    ch.close();
  });
});
