import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushService, type PushSubscriptionJSON, type ReceivedPush } from "./support/push-service.ts";
import { LiveSocket, register, removeState, sleep, startServer, type Server, type Terminal } from "./support/server.ts";

/**
 * Web Push end to end: the real `npm start` (wrangler dev) sends to a local HTTPS push
 * service that is not ours (./support/push-service.ts), which verifies the VAPID JWT with
 * `jose` and decrypts the aes128gcm body with `http_ece`, using keys this test made as a
 * browser would. The server trusts the service's self-signed certificate through
 * NODE_EXTRA_CA_CERTS.
 */

let server: Server;
let svc: PushService;
let vapidKey: string;

beforeAll(async () => {
  svc = await PushService.start();
  // the local push service is on 127.0.0.1: allowed by PUSH_ENDPOINT_HOSTS, as an operator would list it
  server = await startServer({ env: { NODE_EXTRA_CA_CERTS: svc.certPath, PUSH_ENDPOINT_HOSTS: new URL(svc.origin).host } });
  const res = await fetch(`${server.base}/v1/push/vapid-public-key`);
  vapidKey = ((await res.json()) as { key: string }).key;
  svc.expectedKey = vapidKey;
});

afterAll(async () => {
  await server?.stop();
  if (server) removeState(server.state);
  await svc?.close();
});

// ---- helpers ------------------------------------------------------------------------------

async function putSubscription(t: Terminal, sub: unknown, token = t.token): Promise<Response> {
  return fetch(`${server.base}/v1/terminals/${t.id}/push-subscription`, {
    method: "PUT",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(sub),
  });
}

async function subscribe(t: Terminal, name: string): Promise<PushSubscriptionJSON> {
  const sub = svc.subscribe(name);
  const res = await putSubscription(t, sub);
  expect(res.status, await res.text()).toBe(204);
  return sub;
}

async function hasPush(t: Terminal): Promise<boolean> {
  const res = await fetch(`${server.base}/v1/terminals/${t.id}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { push: boolean }).push;
}

/** One-shot send (PUT /v1/send/...): upload, packaging and notification follow on their own. */
async function sendFile(from: Terminal, to: Terminal[], name = "note.txt", expiresIn = 600): Promise<any> {
  const body = new TextEncoder().encode(`hello from ${from.id} at ${Date.now()}\n`);
  const res = await fetch(
    `${server.base}/v1/send/${to.map((t) => t.id).join(",")}/${encodeURIComponent(name)}?expiresIn=${expiresIn}`,
    { method: "PUT", headers: { ...from.auth, "content-type": "text/plain" }, body },
  );
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json();
}

async function getTransfer(as: Terminal, id: string): Promise<any> {
  const res = await fetch(`${server.base}/v1/transfers/${id}`, { headers: as.auth });
  expect(res.status).toBe(200);
  return res.json();
}

async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n--- server log (tail) ---\n${server.logs().slice(-3000)}`);
    await sleep(100);
  }
}

/** The recipient entry of `who` once the server has recorded a notification for it. */
function notified(sender: Terminal, transferId: string, who: Terminal) {
  return until(`notifiedAt for ${who.id}`, async () => {
    const t = await getTransfer(sender, transferId);
    const r = t.recipients.find((x: any) => x.id === who.id);
    return r?.notifiedAt ? r : undefined;
  });
}

/** A push as the browser sees it: well-formed, verified, decrypted, JSON. */
function expectClean(p: ReceivedPush) {
  expect(p.problems, `push to ${p.name} was not well-formed`).toEqual([]);
  expect(p.vapid).not.toBeNull();
  expect(p.vapid!.aud).toBe(svc.origin);
  expect(p.vapid!.k).toBe(vapidKey);
  expect(p.vapid!.exp).toBeGreaterThan(Date.now() / 1000);
  expect(p.vapid!.exp).toBeLessThanOrEqual(Date.now() / 1000 + 24 * 3600);
  expect(p.headers.contentEncoding).toBe("aes128gcm");
  expect(p.bodyBytes).toBeLessThanOrEqual(4096);
  expect(p.payload).toBeTypeOf("object");
}

const transferIdOf = (payload: any): string | undefined => payload?.transfer?.id ?? payload?.transferId;

// ---- the key --------------------------------------------------------------------------------

describe("VAPID public key", () => {
  it("is the uncompressed P-256 point PushManager.subscribe({applicationServerKey}) takes", () => {
    expect(vapidKey).toMatch(/^[A-Za-z0-9_-]+$/);
    const raw = Buffer.from(vapidKey, "base64url");
    expect(raw.byteLength).toBe(65);
    expect(raw[0]).toBe(4);
  });
});

// ---- delivery -----------------------------------------------------------------------------

describe("Web Push delivery", () => {
  it("reaches an offline terminal: verified, decrypted, names the transfer, TTL/Urgency/Topic set", async () => {
    const alice = await register(server.base, "Alice");
    const bob = await register(server.base, "Bob's phone");
    expect(await hasPush(bob)).toBe(false);
    await subscribe(bob, "bob-phone");
    expect(await hasPush(bob)).toBe(true);

    const t = await sendFile(alice, [bob], "report.txt", 600);
    const [push] = await svc.waitFor("bob-phone", 1);
    expectClean(push!);
    expect(push!.status).toBe(201);
    expect(push!.payload.type).toBe("transfer.ready");
    expect(transferIdOf(push!.payload)).toBe(t.id);
    expect(push!.payload.id).toBeTypeOf("string");
    expect(push!.text).toContain("report.txt");
    // TTL: the transfer's remaining lifetime (600 s from creation)
    const ttl = Number(push!.headers.ttl);
    expect(ttl).toBeGreaterThan(540);
    expect(ttl).toBeLessThanOrEqual(600);
    expect(push!.headers.urgency).toBe("high");
    expect(push!.headers.topic).toBe(t.id);

    const r = await notified(alice, t.id, bob);
    expect(r.channel).toBe("push");
    expect(Date.parse(r.notifiedAt)).toBeGreaterThanOrEqual(Date.parse(t.createdAt));
    expect(Date.parse(r.notifiedAt)).toBeLessThanOrEqual(Date.now());

    // a push is not an acknowledgement: the socket still replays the message
    const ws = await LiveSocket.open(server.base, bob);
    const m = await ws.next((x) => x.type === "transfer.ready" && x.transfer?.id === t.id);
    expect(m.id).toBe(push!.payload.id);
    ws.ack(m.id);
    await ws.close();

    // cancelling the transfer reaches the (again offline) terminal too, under the same Topic
    const del = await fetch(`${server.base}/v1/transfers/${t.id}`, { method: "DELETE", headers: alice.auth });
    expect(del.status).toBe(204);
    const pushes = await svc.waitFor("bob-phone", 2);
    expectClean(pushes[1]!);
    expect(pushes[1]!.payload).toMatchObject({ type: "transfer.cancelled", transferId: t.id });
    expect(pushes[1]!.headers.topic).toBe(t.id);
    expect(pushes[1]!.headers.urgency).not.toBe("high");
  });

  it("410 Gone removes the subscription", async () => {
    const alice = await register(server.base);
    const carol = await register(server.base);
    await subscribe(carol, "carol-stale");
    svc.script("carol-stale", { status: 410 });
    const t = await sendFile(alice, [carol]);
    const [push] = await svc.waitFor("carol-stale", 1);
    expectClean(push!);
    expect(push!.status).toBe(410);
    await until("push: false", async () => ((await hasPush(carol)) ? undefined : true));
    // nothing reached the terminal: no notification recorded, and no retry to a dead endpoint
    const after = await getTransfer(alice, t.id);
    expect(after.recipients[0].notifiedAt).toBeNull();
    await sleep(6_000); // past the first retry's backoff (5 s), had there been one
    expect(svc.received("carol-stale")).toHaveLength(1);
  });

  it("503 then 201: delivered exactly once, after one retry that waits what Retry-After asks", async () => {
    const alice = await register(server.base);
    const dave = await register(server.base);
    await subscribe(dave, "dave");
    svc.script("dave", { status: 503, headers: { "retry-after": "1" } });
    const t = await sendFile(alice, [dave]);
    const pushes = await svc.waitFor("dave", 2, 15_000);
    expect(pushes.map((p) => p.status)).toEqual([503, 201]);
    for (const p of pushes) expectClean(p);
    expect(pushes[1]!.payload.id).toBe(pushes[0]!.payload.id);
    expect(transferIdOf(pushes[1]!.payload)).toBe(t.id);
    const gap = pushes[1]!.at - pushes[0]!.at;
    expect(gap).toBeGreaterThanOrEqual(900); // waited as asked...
    expect(gap).toBeLessThan(4500); // ...and not the 5 s backoff it would use without Retry-After
    const r = await notified(alice, t.id, dave);
    expect(r.channel).toBe("push");
    await sleep(2000);
    expect(svc.received("dave")).toHaveLength(2);
    expect(svc.delivered("dave")).toHaveLength(1);
  });

  it("an open socket takes the message: no push at all; once it is closed, pushes resume", async () => {
    const alice = await register(server.base);
    const erin = await register(server.base);
    await subscribe(erin, "erin");
    const ws = await LiveSocket.open(server.base, erin);
    const t = await sendFile(alice, [erin]);
    const m = await ws.next((x) => x.type === "transfer.ready" && x.transfer?.id === t.id);
    ws.ack(m.id);
    const r = await notified(alice, t.id, erin);
    expect(r.channel).toBe("socket");
    await sleep(2000);
    expect(svc.received("erin")).toHaveLength(0);

    await ws.close();
    await sleep(500); // the server has seen the close
    const t2 = await sendFile(alice, [erin]);
    const [push] = await svc.waitFor("erin", 1);
    expectClean(push!);
    expect(transferIdOf(push!.payload)).toBe(t2.id);
  });

  it("every subscription of a terminal (phone and laptop) gets the push", async () => {
    const alice = await register(server.base);
    const frank = await register(server.base);
    await subscribe(frank, "frank-phone");
    await subscribe(frank, "frank-laptop");
    const t = await sendFile(alice, [frank]);
    const [phone] = await svc.waitFor("frank-phone", 1);
    const [laptop] = await svc.waitFor("frank-laptop", 1);
    for (const p of [phone!, laptop!]) {
      expectClean(p);
      expect(transferIdOf(p.payload)).toBe(t.id);
    }
    expect(phone!.payload.id).toBe(laptop!.payload.id);

    // DELETE ?endpoint= removes that one only; DELETE without removes the rest
    const phoneEndpoint = `${svc.origin}/push/frank-phone`;
    let res = await fetch(`${server.base}/v1/terminals/${frank.id}/push-subscription?endpoint=${encodeURIComponent(phoneEndpoint)}`, {
      method: "DELETE",
      headers: frank.auth,
    });
    expect(res.status).toBe(204);
    expect(await hasPush(frank)).toBe(true);
    const t2 = await sendFile(alice, [frank]);
    const laptops = await svc.waitFor("frank-laptop", 2);
    expect(transferIdOf(laptops[1]!.payload)).toBe(t2.id);
    await sleep(1000); // (a push to the phone would have gone out beside the laptop's)
    expect(svc.received("frank-phone")).toHaveLength(1);
    res = await fetch(`${server.base}/v1/terminals/${frank.id}/push-subscription`, { method: "DELETE", headers: frank.auth });
    expect(res.status).toBe(204);
    expect(await hasPush(frank)).toBe(false);
  });

  it("subscribing the same endpoint again replaces it (new keys, one push)", async () => {
    const alice = await register(server.base);
    const gina = await register(server.base);
    await subscribe(gina, "gina"); // old keys...
    await subscribe(gina, "gina"); // ...replaced: the service now decrypts with the new ones only
    const t = await sendFile(alice, [gina]);
    const [push] = await svc.waitFor("gina", 1);
    expectClean(push!);
    expect(transferIdOf(push!.payload)).toBe(t.id);
    await sleep(1000);
    expect(svc.received("gina")).toHaveLength(1);
  });

  it("a transfer too big for one push arrives as a valid JSON summary naming it", async () => {
    const alice = await register(server.base);
    const hank = await register(server.base);
    await subscribe(hank, "hank");
    const files = Array.from({ length: 40 }, (_, i) => ({ name: `${String(i).padStart(3, "0")}-${"x".repeat(100)}.txt`, size: 1 }));
    let res = await fetch(`${server.base}/v1/transfers`, {
      method: "POST",
      headers: { ...alice.auth, "content-type": "application/json" },
      body: JSON.stringify({ to: [hank.id], files, message: "many files" }),
    });
    expect(res.status).toBe(201);
    const t = (await res.json()) as any;
    for (const f of t.files) {
      res = await fetch(f.uploadUrl, { method: "PUT", headers: alice.auth, body: new Uint8Array([65]) });
      expect(res.status).toBe(200);
    }
    const [push] = await svc.waitFor("hank", 1, 20_000);
    expectClean(push!);
    expect(Buffer.byteLength(push!.text!)).toBeLessThanOrEqual(3993);
    expect(push!.payload.type).toBe("transfer.ready");
    expect(transferIdOf(push!.payload)).toBe(t.id);
    expect(push!.payload.summary).toBe(true);
    expect(push!.payload.files.count).toBe(40);
  });
});

// ---- validation ---------------------------------------------------------------------------

describe("PUT /v1/terminals/{id}/push-subscription validation", () => {
  let ivan: Terminal;
  let good: PushSubscriptionJSON;
  beforeAll(async () => {
    ivan = await register(server.base);
    good = svc.subscribe("ivan");
  });

  const bad: Array<[string, (s: PushSubscriptionJSON) => unknown]> = [
    ["an http endpoint", (s) => ({ ...s, endpoint: s.endpoint.replace(/^https:/, "http:") })],
    ["an endpoint that is no URL", (s) => ({ ...s, endpoint: "push me" })],
    ["no endpoint", (s) => ({ keys: s.keys })],
    ["a 64-byte p256dh", (s) => ({ ...s, keys: { ...s.keys, p256dh: Buffer.from(s.keys.p256dh, "base64url").subarray(0, 64).toString("base64url") } })],
    ["a 33-byte compressed p256dh", (s) => ({ ...s, keys: { ...s.keys, p256dh: Buffer.concat([Buffer.from([2]), Buffer.alloc(32, 7)]).toString("base64url") } })],
    ["a p256dh that is not a point on P-256", (s) => ({ ...s, keys: { ...s.keys, p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString("base64url") } })],
    ["a 15-byte auth", (s) => ({ ...s, keys: { ...s.keys, auth: Buffer.alloc(15, 1).toString("base64url") } })],
    ["a 17-byte auth", (s) => ({ ...s, keys: { ...s.keys, auth: Buffer.alloc(17, 1).toString("base64url") } })],
    ["no keys", (s) => ({ endpoint: s.endpoint })],
  ];
  for (const [what, make] of bad) {
    it(`rejects ${what} with a 400 JSON error`, async () => {
      const res = await putSubscription(ivan, make(good));
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/json/);
      const body = (await res.json()) as any;
      expect(body.error.code).toBeTypeOf("string");
      expect(body.error.message).toBeTypeOf("string");
    });
  }

  it("rejects a body that is not JSON, and callers without the terminal's token", async () => {
    let res = await fetch(`${server.base}/v1/terminals/${ivan.id}/push-subscription`, {
      method: "PUT",
      headers: { ...ivan.auth, "content-type": "application/json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.code).toBeTypeOf("string");
    res = await fetch(`${server.base}/v1/terminals/${ivan.id}/push-subscription`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(good),
    });
    expect(res.status).toBe(401);
    const other = await register(server.base);
    res = await putSubscription(ivan, good, other.token);
    expect(res.status).toBe(403);
    expect(await hasPush(ivan)).toBe(false);
    // and the good one is taken
    res = await putSubscription(ivan, good);
    expect(res.status).toBe(204);
    expect(await hasPush(ivan)).toBe(true);
  });
});
