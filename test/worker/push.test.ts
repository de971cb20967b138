import { buildPushPayload } from "@block65/webcrypto-web-push";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ServerMessage, Transfer } from "../../src/contract";
import { pushTopic, pushTtl } from "../../src/notify/pusher";
import { LIVE_WINDOW_MS } from "../../src/notify/sockets";
import type { Terminal } from "../../src/notify/terminal";
import { cut, MAX_PUSH_PLAINTEXT, sealMayFit, trimForPush } from "../../src/notify/trim";
import { backoffMs, MAX_PUSH_ATTEMPTS, parseRetryAfter, retryWait } from "../../src/notify/webpush";
import { MAX_SUBSCRIPTIONS } from "../../src/config";
import { api, bytes as someBytes, env, eventually, openSocket, register, sendFiles, terminalStub } from "./helpers";

/**
 * Web Push inside workerd: trimming to the 3,993-byte plaintext limit, subscriptions in the
 * Terminal Durable Object, and the alarm-driven retries. The push service is played by a
 * stub of the global fetch (this file only); its endpoints are on 127.0.0.1's discard port,
 * so a push that escaped the stub would go nowhere. The end-to-end test against a real
 * (independent) push service is test/node/push.test.ts.
 */

const enc = new TextEncoder();
const byteLength = (s: string) => enc.encode(s).byteLength;
const ENDPOINT = "https://127.0.0.1:9/push";

function b64url(bytes: ArrayBuffer | Uint8Array): string {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** A subscription as a browser makes it: ECDH P-256 public key and a 16-byte auth secret. */
async function browserSubscription(name: string) {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  const raw = (await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer;
  return {
    endpoint: `${ENDPOINT}/${name}`,
    expirationTime: null,
    keys: { p256dh: b64url(raw), auth: b64url(crypto.getRandomValues(new Uint8Array(16))) },
  };
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

/**
 * A subscription whose pushes the test can read: it keeps the private key and opens an
 * aes128gcm body as a browser would (RFC 8291: ECDH with the sender's key from the header,
 * HKDF with the auth secret, AES-128-GCM, one record).
 */
async function readableSubscription(name: string) {
  const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
  const uaPublic = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
  const auth = crypto.getRandomValues(new Uint8Array(16));
  const sub = { endpoint: `${ENDPOINT}/${name}`, expirationTime: null, keys: { p256dh: b64url(uaPublic), auth: b64url(auth) } };
  const hkdf = async (salt: Uint8Array, ikm: Uint8Array, info: Uint8Array, bits: number) =>
    new Uint8Array(
      await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]), bits),
    );
  const open = async (body: Uint8Array): Promise<unknown> => {
    const salt = body.slice(0, 16);
    const idlen = body[20]!;
    const asPublic = body.slice(21, 21 + idlen);
    const asKey = await crypto.subtle.importKey("raw", asPublic, { name: "ECDH", namedCurve: "P-256" }, false, []);
    const ecdh = new Uint8Array(await crypto.subtle.deriveBits({ name: "ECDH", public: asKey } as any, pair.privateKey, 256));
    const ikm = await hkdf(auth, ecdh, concat(enc.encode("WebPush: info\0"), uaPublic, asPublic), 256);
    const cek = await hkdf(salt, ikm, enc.encode("Content-Encoding: aes128gcm\0"), 128);
    const nonce = await hkdf(salt, ikm, enc.encode("Content-Encoding: nonce\0"), 96);
    const key = await crypto.subtle.importKey("raw", cek, "AES-GCM", false, ["decrypt"]);
    const plain = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, body.slice(21 + idlen)));
    let end = plain.length - 1;
    while (end > 0 && plain[end] === 0) end--;
    expect(plain[end]).toBe(2); // the last record's delimiter
    return JSON.parse(new TextDecoder().decode(plain.subarray(0, end)));
  };
  return { sub, open };
}

function fakeTransfer(files: number, opts: { nameOf?: (i: number) => string; message?: string | null; from?: string } = {}): Transfer {
  const id = "AAAAAAAAAAAATransferId"; // 22 characters, like a real transfer id
  const nameOf = opts.nameOf ?? ((i: number) => `photo-${String(i).padStart(4, "0")}.jpg`);
  const now = Date.now();
  return {
    id,
    status: "ready",
    from: { id: "123456784", name: opts.from ?? "Alice" },
    to: ["987654325"],
    sealed: false,
    message: opts.message === undefined ? "holiday pictures" : opts.message,
    files: Array.from({ length: files }, (_, i) => ({
      index: i,
      name: nameOf(i),
      size: 1000 + i,
      type: "image/jpeg",
      received: 1000 + i,
      partSize: 16 * 1024 * 1024,
      parts: 1,
      partsReceived: [1],
      sha256: "0".repeat(64),
      uploadUrl: `https://pushdrop.test/v1/transfers/${id}/files/${i}`,
      downloadUrl: `https://pushdrop.test/v1/transfers/${id}/files/${i}?sig=${"s".repeat(60)}`,
    })),
    size: Array.from({ length: files }, (_, i) => 1000 + i).reduce((a, b) => a + b, 0),
    package: { size: 123456, sha256: "1".repeat(64) },
    createdAt: new Date(now).toISOString(),
    expiresAt: new Date(now + 3600_000).toISOString(),
    maxDownloads: null,
    downloads: 0,
    downloadUrl: `https://pushdrop.test/v1/transfers/${id}/package?sig=${"s".repeat(60)}`,
    failure: null,
    recipients: [{ id: "987654325", notifiedAt: null, channel: null, openedAt: null, downloadedAt: null }],
  };
}

const ready = (t: Transfer): ServerMessage => ({ type: "transfer.ready", id: `${t.id}.ready`, transfer: t });

// ---- trimming -------------------------------------------------------------------------------

describe("trimForPush", () => {
  it("leaves a message that fits as it is", () => {
    const msg = ready(fakeTransfer(2));
    expect(trimForPush(msg)).toEqual(msg);
  });

  it("turns a 1000-file transfer.ready into a summary that fits, is valid JSON and names the transfer", async () => {
    const t = fakeTransfer(1000);
    const msg = ready(t);
    expect(byteLength(JSON.stringify(msg))).toBeGreaterThan(100_000);
    const text = JSON.stringify(trimForPush(msg));
    expect(byteLength(text)).toBeLessThanOrEqual(MAX_PUSH_PLAINTEXT);
    const back = JSON.parse(text);
    expect(back).toMatchObject({ type: "transfer.ready", id: msg.id, transferId: t.id, summary: true, expiresAt: t.expiresAt });
    expect(back.from).toEqual(t.from);
    expect(back.message).toBe(t.message);
    expect(back.files.count).toBe(1000);
    expect(back.files.size).toBe(t.size);
    expect(back.files.names.length).toBeGreaterThan(10);
    expect(back.files.names.length).toBeLessThan(1000);
    expect(back.files.names).toEqual(t.files.slice(0, back.files.names.length).map((f) => f.name));

    // and the Web Push library takes it: one 4096-byte aes128gcm record
    const req = await buildPushPayload(
      { data: text, options: { ttl: 60, urgency: "high", topic: t.id } },
      await browserSubscription("trim"),
      { subject: env.VAPID_SUBJECT, publicKey: env.VAPID_PUBLIC_KEY!, privateKey: env.VAPID_PRIVATE_KEY! },
    );
    expect(req.body.byteLength).toBe(4096);
  });

  it("fits with the worst names, sender and message (multi-byte, longest allowed)", () => {
    const t = fakeTransfer(1000, {
      nameOf: (i) => `${i}-${"🎉".repeat(62)}.bin`, // 255 bytes of UTF-8
      message: "ü🎉".repeat(333),
      from: "🎉".repeat(64),
    });
    const text = JSON.stringify(trimForPush(ready(t)));
    expect(byteLength(text)).toBeLessThanOrEqual(MAX_PUSH_PLAINTEXT);
    const back = JSON.parse(text);
    expect(back.transferId).toBe(t.id);
    expect(back.files.count).toBe(1000);
  });

  it("fits a few files whose message alone is too long", () => {
    const t = fakeTransfer(1, { message: "€".repeat(1000), nameOf: () => "x".repeat(255) });
    t.recipients = Array.from({ length: 100 }, (_, i) => ({ id: String(100000000 + i), notifiedAt: null, channel: null, openedAt: null, downloadedAt: null }));
    t.to = t.recipients.map((r) => r.id);
    const text = JSON.stringify(trimForPush(ready(t)));
    expect(byteLength(text)).toBeLessThanOrEqual(MAX_PUSH_PLAINTEXT);
    expect(JSON.parse(text)).toMatchObject({ transferId: t.id, summary: true, files: { count: 1 } });
  });

  it("a sealed transfer.ready carries its seal.age whole when it fits, else in its summary (no names, sealed: true), else not at all", () => {
    const t = fakeTransfer(3, { nameOf: (i) => (i < 2 ? `${i + 1}.age` : "seal.age"), message: null });
    t.sealed = true;
    const msg = ready(t);
    const small = "A".repeat(1000);
    expect(trimForPush(msg, MAX_PUSH_PLAINTEXT, small)).toEqual({ ...msg, seal: small });

    const mid = "B".repeat(3000); // the whole message with it is too big; its summary with it is not
    expect(byteLength(JSON.stringify({ ...msg, seal: mid }))).toBeGreaterThan(MAX_PUSH_PLAINTEXT);
    const summary = trimForPush(msg, MAX_PUSH_PLAINTEXT, mid);
    expect(byteLength(JSON.stringify(summary))).toBeLessThanOrEqual(MAX_PUSH_PLAINTEXT);
    expect(summary).toEqual({
      type: "transfer.ready",
      id: msg.id,
      transferId: t.id,
      summary: true,
      sealed: true,
      from: t.from,
      message: null,
      files: { count: 3, size: t.size, names: [] },
      expiresAt: t.expiresAt,
      seal: mid,
    });

    // too big for any push: the message as it would go without a seal
    expect(trimForPush(msg, MAX_PUSH_PLAINTEXT, "C".repeat(3800))).toEqual(msg);
    // a plain transfer never gets one
    expect(trimForPush(ready(fakeTransfer(2)), MAX_PUSH_PLAINTEXT, null)).not.toHaveProperty("seal");

    // a large sealed transfer without its seal: the summary says sealed and lists no (opaque) names
    const big = fakeTransfer(1000, { nameOf: (i) => (i < 999 ? `${i + 1}.age` : "seal.age"), message: null });
    big.sealed = true;
    expect(trimForPush(ready(big))).toMatchObject({ summary: true, sealed: true, files: { count: 1000, names: [] }, message: null });
    expect(trimForPush(ready(big))).not.toHaveProperty("seal");
  });

  it("reads a seal.age only when it may fit: a seal of files (padded to 1 KiB) does, a text's (padded to 4 KiB) does not", () => {
    expect(sealMayFit(1000)).toBe(true);
    expect(sealMayFit(2800)).toBe(true);
    expect(sealMayFit(3000)).toBe(false);
    // client/seal's smallest seals, sealed to one recipient: of files (1 KiB) it may fit; of a text alone (4 KiB) never
    expect(sealMayFit(86 + 98 + 1024 + 16)).toBe(true);
    expect(sealMayFit(86 + 98 + 4096 + 16)).toBe(false);
  });

  it("shortens a transfer.opened whose Transfer is too big to its id and who opened it", () => {
    const t = fakeTransfer(1000);
    const big: ServerMessage = { type: "transfer.opened", id: `${t.id}.opened.987654325`, transfer: t, by: "987654325" };
    expect(byteLength(JSON.stringify(big))).toBeGreaterThan(MAX_PUSH_PLAINTEXT);
    expect(trimForPush(big)).toEqual({ type: "transfer.opened", id: big.id, transfer: { id: t.id }, by: "987654325", summary: true });
    const small: ServerMessage = { ...big, transfer: fakeTransfer(2) };
    expect(trimForPush(small)).toEqual(small);
  });

  it("cuts a long failure reason", () => {
    const text = JSON.stringify(trimForPush({ type: "transfer.failed", id: "x.failed", transferId: "x", reason: "🎉".repeat(4000) }));
    expect(byteLength(text)).toBeLessThanOrEqual(MAX_PUSH_PLAINTEXT);
    expect(JSON.parse(text)).toMatchObject({ type: "transfer.failed", transferId: "x" });
  });
});

// ---- Retry-After and backoff ----------------------------------------------------------------

describe("retry timing", () => {
  it("parses Retry-After as delay-seconds or an HTTP-date, and nothing else", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("1", now)).toBe(1000);
    expect(parseRetryAfter(" 120 ", now)).toBe(120_000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).toBe(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 00:00:00 GMT", now)).toBe(0);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter("", now)).toBeNull();
    expect(parseRetryAfter("1.5", now)).toBeNull();
    expect(parseRetryAfter("soon", now)).toBeNull();
  });

  it("waits what Retry-After asks, shorter or longer than the backoff; backs off 5 s, 20 s, 80 s... without it", () => {
    expect([1, 2, 3, 4].map(backoffMs)).toEqual([5_000, 20_000, 80_000, 320_000]);
    expect(backoffMs(10)).toBe(15 * 60_000);
    for (const attempt of [1, 2, 3, 4]) expect(retryWait(null, attempt)).toBe(backoffMs(attempt));
    expect(retryWait(1_000, 1)).toBe(1_000);
    expect(retryWait(0, 3)).toBe(1_000); // Retry-After: 0 still waits a second: the tries are few
    expect(retryWait(600_000, 1)).toBe(600_000);
  });
});

// ---- the Durable Object ---------------------------------------------------------------------

interface Call {
  url: string;
  headers: Record<string, string>;
  bytes: number;
  /** the (encrypted) body, where a test keeps it */
  body?: Uint8Array;
}
type Reply = Response | Error;

/** Stubs the global fetch for push endpoints: answers from `replies` in order, then 201. */
function pushService() {
  const calls: Call[] = [];
  const replies: Array<() => Reply> = [];
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    if (!req.url.startsWith(ENDPOINT)) return real(input, init);
    const body = await req.arrayBuffer();
    calls.push({ url: req.url, headers: Object.fromEntries(req.headers), bytes: body.byteLength, body: new Uint8Array(body) });
    const r = replies.shift()?.() ?? new Response(null, { status: 201 });
    if (r instanceof Error) throw r;
    return r;
  });
  return {
    calls,
    reply(...rs: Array<() => Reply>) {
      replies.push(...rs);
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const status = (s: number, headers: Record<string, string> = {}) => () => new Response(null, { status: s, headers });

let seq = 0;
/** A terminal DO of its own (not registered: the DO needs none) with fresh subscriptions. */
async function freshTerminal(...names: string[]) {
  const id = `t${Date.now()}-${++seq}`;
  const stub = terminalStub(id);
  const subs = [];
  for (const name of names) {
    const sub = await browserSubscription(`${id}-${name}`);
    await stub.putSubscription(id, sub);
    subs.push(sub);
  }
  return { id, stub, subs };
}

function message(n = 1): { msg: ServerMessage; t: Transfer } {
  const t = fakeTransfer(n);
  t.id = `Tx${String(++seq).padStart(20, "0")}`;
  return { msg: ready(t), t };
}

/** Makes every pending push due now and runs the alarm (time travel for the backoff). */
async function runDue(stub: DurableObjectStub<Terminal>) {
  await runInDurableObject(stub, (_: Terminal, state) => {
    state.storage.sql.exec("UPDATE pushes SET next_at = 0 WHERE state = 'pending'");
  });
  await runDurableObjectAlarm(stub);
}

async function nextPushAt(stub: DurableObjectStub<Terminal>) {
  return runInDurableObject(stub, async (_: Terminal, state) => ({
    alarm: await state.storage.getAlarm(),
    next: state.storage.sql.exec<{ at: number | null }>("SELECT MIN(next_at) AS at FROM pushes WHERE state = 'pending'").one().at,
  }));
}

/** How many sockets the terminal's object holds (a close is handled once it drops). */
const socketsOf = (stub: DurableObjectStub<Terminal>) => runInDurableObject(stub, (_: Terminal, state) => state.getWebSockets().length);

/**
 * Acknowledges every message the socket got, then closes it and waits until the object has
 * handled the close: a socket that goes with messages unacknowledged makes them due by push,
 * and such a push would land in whichever test runs next.
 */
async function ackAndClose(stub: DurableObjectStub<Terminal>, ws: WebSocket, frames: Array<{ id?: string }>) {
  for (const f of frames) if (f.id) ws.send(JSON.stringify({ type: "ack", id: f.id }));
  await eventually(async () => ((await stub.pendingCount()) === 0 ? true : undefined), 5_000, "every message acknowledged");
  ws.close(1000, "done");
  await eventually(async () => ((await socketsOf(stub)) === 0 ? true : undefined), 5_000, "the close handled");
}

/** Delivers with no socket open and lets the first push attempt happen. */
async function deliverOffline(stub: DurableObjectStub<Terminal>, id: string, msg: ServerMessage, t: Transfer, calls: Call[], expect = 1) {
  const before = calls.length;
  const r = await stub.enqueue(id, msg, { transferId: t.id, expiresAt: Date.parse(t.expiresAt) });
  expectSockets(r.sockets, 0);
  // the alarm is due at once; run it ourselves if workerd has not yet
  await runDurableObjectAlarm(stub);
  await eventually(async () => (calls.length >= before + expect ? true : undefined), 5_000, "the first push attempt");
}
const expectSockets = (n: number, want: number) => {
  if (n !== want) throw new Error(`expected ${want} open sockets, found ${n}`);
};

describe("Terminal Durable Object: subscriptions", () => {
  it("replaces a subscription whose endpoint subscribes again, keeps others apart", async () => {
    const { id, stub, subs } = await freshTerminal("phone");
    const again = await browserSubscription(`${id}-phone`);
    expect(again.endpoint).toBe(subs[0]!.endpoint);
    await stub.putSubscription(id, again);
    const laptop = await browserSubscription(`${id}-laptop`);
    await stub.putSubscription(id, laptop);
    const rows = await runInDurableObject(stub, async (instance: Terminal, state) => ({
      count: await instance.subscriptionCount(),
      rows: state.storage.sql.exec<{ endpoint: string; p256dh: string; auth: string }>("SELECT endpoint, p256dh, auth FROM subscriptions ORDER BY endpoint").toArray(),
    }));
    expect(rows.count).toBe(2);
    const phone = rows.rows.find((r) => r.endpoint === again.endpoint)!;
    expect(phone.p256dh).toBe(again.keys.p256dh);
    expect(phone.auth).toBe(again.keys.auth);
    expect(phone.p256dh).not.toBe(subs[0]!.keys.p256dh);
    expect(await stub.deleteSubscription(laptop.endpoint)).toBe(1);
    expect(await stub.subscriptionCount()).toBe(1);
    expect(await stub.deleteSubscription()).toBe(1);
    expect(await stub.hasPush()).toBe(false);
  });

  it("through the API: PUT twice with one endpoint is one subscription; GET says push; DELETE ?endpoint= removes it", async () => {
    const bob = await register("Bob");
    const put = (sub: unknown) =>
      api(`/v1/terminals/${bob.id}/push-subscription`, { method: "PUT", headers: { ...bob.auth, "content-type": "application/json" }, body: JSON.stringify(sub) });
    const first = await browserSubscription(`api-${bob.id}`);
    const second = await browserSubscription(`api-${bob.id}`);
    expect((await put(first)).status).toBe(204);
    expect((await put(second)).status).toBe(204);
    // padded base64url is taken and stored canonical
    const third = { ...(await browserSubscription(`api2-${bob.id}`)) };
    third.keys = { p256dh: `${third.keys.p256dh}=`, auth: `${third.keys.auth}==` };
    expect((await put(third)).status).toBe(204);
    const stub = terminalStub(bob.id);
    const rows = await runInDurableObject(stub, (_: Terminal, state) =>
      state.storage.sql.exec<{ endpoint: string; p256dh: string; auth: string }>("SELECT endpoint, p256dh, auth FROM subscriptions").toArray(),
    );
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.endpoint === second.endpoint)).toMatchObject({ p256dh: second.keys.p256dh, auth: second.keys.auth });
    expect(rows.find((r) => r.endpoint === third.endpoint)).toMatchObject({ p256dh: third.keys.p256dh.replace(/=+$/, ""), auth: third.keys.auth.replace(/=+$/, "") });
    expect((await (await api(`/v1/terminals/${bob.id}`)).json<any>()).push).toBe(true);
    const del = await api(`/v1/terminals/${bob.id}/push-subscription?endpoint=${encodeURIComponent(second.endpoint)}`, { method: "DELETE", headers: bob.auth });
    expect(del.status).toBe(204);
    expect(await stub.subscriptionCount()).toBe(1);
    // or as a JSON body; an endpoint that is not subscribed changes nothing
    const other = await api(`/v1/terminals/${bob.id}/push-subscription`, {
      method: "DELETE",
      headers: { ...bob.auth, "content-type": "application/json" },
      body: JSON.stringify({ endpoint: `${ENDPOINT}/nobody` }),
    });
    expect(other.status).toBe(204);
    expect(await stub.subscriptionCount()).toBe(1);
    const delAll = await api(`/v1/terminals/${bob.id}/push-subscription`, { method: "DELETE", headers: bob.auth });
    expect(delAll.status).toBe(204);
    expect((await (await api(`/v1/terminals/${bob.id}`)).json<any>()).push).toBe(false);
  });
});

describe("Terminal Durable Object: push delivery and retries", () => {
  let svc: ReturnType<typeof pushService>;
  beforeEach(() => {
    svc = pushService();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("sends at once with TTL, Urgency, Topic, VAPID and an aes128gcm body", async () => {
    const { id, stub, subs } = await freshTerminal("phone");
    const { msg, t } = message();
    await deliverOffline(stub, id, msg, t, svc.calls);
    expect(svc.calls).toHaveLength(1);
    const c = svc.calls[0]!;
    expect(c.url).toBe(subs[0]!.endpoint);
    expect(c.headers["content-encoding"]).toBe("aes128gcm");
    expect(c.headers.authorization).toMatch(new RegExp(`^vapid t=[\\w-]+\\.[\\w-]+\\.[\\w-]+, k=${env.VAPID_PUBLIC_KEY}$`));
    expect(Number(c.headers.ttl)).toBeGreaterThan(3500);
    expect(Number(c.headers.ttl)).toBeLessThanOrEqual(3600);
    expect(c.headers.urgency).toBe("high");
    expect(c.headers.topic).toBe(t.id);
    expect(c.bytes).toBe(4096);
    expect(await stub.pushLog()).toEqual([{ message_id: msg.id, endpoint: c.url, state: "sent", attempts: 1, last_status: 201 }]);
    // nothing left to retry
    await runDue(stub);
    expect(svc.calls).toHaveLength(1);
  });

  it(`retries 5xx with backoff 5 s, 20 s, 80 s, 320 s and gives up after ${MAX_PUSH_ATTEMPTS} attempts`, async () => {
    const { id, stub } = await freshTerminal("phone");
    const { msg, t } = message();
    svc.reply(...Array.from({ length: 10 }, () => status(503)));
    await deliverOffline(stub, id, msg, t, svc.calls);
    for (let attempt = 1; attempt <= MAX_PUSH_ATTEMPTS; attempt++) {
      expect(svc.calls).toHaveLength(attempt);
      const log = await stub.pushLog();
      expect(log).toHaveLength(1);
      expect(log[0]).toMatchObject({ attempts: attempt, last_status: 503, state: attempt < MAX_PUSH_ATTEMPTS ? "pending" : "failed" });
      if (attempt < MAX_PUSH_ATTEMPTS) {
        const { alarm, next } = await nextPushAt(stub);
        const wait = next! - Date.now();
        expect(wait).toBeGreaterThan(backoffMs(attempt) - 2_000);
        expect(wait).toBeLessThanOrEqual(backoffMs(attempt));
        expect(alarm).toBe(next); // the alarm is armed for the retry
        await runDue(stub);
      }
    }
    // given up: no pending push, running the alarm again sends nothing
    expect((await nextPushAt(stub)).next).toBeNull();
    await runDue(stub);
    expect(svc.calls).toHaveLength(MAX_PUSH_ATTEMPTS);
  });

  it("honours Retry-After (shorter than the backoff), retries 429 and network errors, then delivers once", async () => {
    const { id, stub } = await freshTerminal("phone");
    const { msg, t } = message();
    svc.reply(status(503, { "retry-after": "2" }), status(429), () => new TypeError("connection refused"));
    await deliverOffline(stub, id, msg, t, svc.calls);
    let { next } = await nextPushAt(stub);
    expect(next! - Date.now()).toBeLessThanOrEqual(2_000);
    expect(next! - Date.now()).toBeGreaterThan(1_000);
    await runDue(stub); // 429, no Retry-After: backoff for attempt 2
    ({ next } = await nextPushAt(stub));
    expect(next! - Date.now()).toBeGreaterThan(backoffMs(2) - 2_000);
    await runDue(stub); // network error: backoff for attempt 3
    ({ next } = await nextPushAt(stub));
    expect(next! - Date.now()).toBeGreaterThan(backoffMs(3) - 2_000);
    expect(await stub.pushLog()).toMatchObject([{ state: "pending", attempts: 3, last_status: 0 }]);
    await runDue(stub); // 201
    expect(svc.calls).toHaveLength(4);
    expect(await stub.pushLog()).toMatchObject([{ state: "sent", attempts: 4, last_status: 201 }]);
    await runDue(stub);
    expect(svc.calls).toHaveLength(4);
  });

  it("410 and 404 remove that subscription only; another 4xx fails without a retry and keeps it", async () => {
    const { id, stub, subs } = await freshTerminal("a", "b", "c");
    const { msg, t } = message();
    const byEndpoint = new Map<string, () => Reply>([
      [subs[0]!.endpoint, status(410)],
      [subs[1]!.endpoint, status(404)],
      [subs[2]!.endpoint, status(400)],
    ]);
    // answers by endpoint, not by order
    vi.restoreAllMocks();
    const calls: Call[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const req = new Request(input, init);
      calls.push({ url: req.url, headers: Object.fromEntries(req.headers), bytes: (await req.arrayBuffer()).byteLength });
      return byEndpoint.get(req.url)!() as Response;
    });
    await deliverOffline(stub, id, msg, t, calls, 3);
    const log = await stub.pushLog();
    const state = (i: number) => log.find((r) => r.endpoint === subs[i]!.endpoint);
    expect(state(0)).toMatchObject({ state: "gone", attempts: 1, last_status: 410 });
    expect(state(1)).toMatchObject({ state: "gone", attempts: 1, last_status: 404 });
    expect(state(2)).toMatchObject({ state: "failed", attempts: 1, last_status: 400 });
    const left = await runInDurableObject(stub, (_: Terminal, s) =>
      s.storage.sql.exec<{ endpoint: string }>("SELECT endpoint FROM subscriptions").toArray().map((r) => r.endpoint),
    );
    expect(left).toEqual([subs[2]!.endpoint]);
    await runDue(stub);
    expect(calls).toHaveLength(3);
  });

  it("an unusable key is rejected at once, not retried as if the network had failed", async () => {
    const { id, stub } = await freshTerminal();
    // a key of the right size that is no P-256 point, put past the API's check
    const bad = { endpoint: `${ENDPOINT}/${id}-bad`, expirationTime: null, keys: { p256dh: b64url(new Uint8Array([4, ...new Uint8Array(64).fill(1)])), auth: b64url(new Uint8Array(16)) } };
    await stub.putSubscription(id, bad);
    const { msg, t } = message();
    await stub.enqueue(id, msg, { transferId: t.id, expiresAt: Date.parse(t.expiresAt) });
    await runDurableObjectAlarm(stub);
    await eventually(async () => ((await stub.pushLog())[0]?.state === "failed" ? true : undefined), 5_000, "the push to fail");
    expect(svc.calls).toHaveLength(0);
    expect((await nextPushAt(stub)).next).toBeNull();
  });

  it("a socket that opens takes over: pending retries are superseded and nothing more is pushed", async () => {
    const erin = await register("Erin");
    const stub = terminalStub(erin.id);
    const sub = await browserSubscription(`sock-${erin.id}`);
    const put = await api(`/v1/terminals/${erin.id}/push-subscription`, {
      method: "PUT",
      headers: { ...erin.auth, "content-type": "application/json" },
      body: JSON.stringify(sub),
    });
    expect(put.status).toBe(204);
    const { msg, t } = message();
    svc.reply(status(503));
    await deliverOffline(stub, erin.id, msg, t, svc.calls);
    expect(await stub.pushLog()).toMatchObject([{ state: "pending", attempts: 1 }]);

    const { ws, frames } = await openSocket(erin);
    await eventually(async () => (frames.some((f) => f.id === msg.id) ? true : undefined), 5_000, "the replayed message");
    expect(await stub.pushLog()).toMatchObject([{ state: "superseded", attempts: 1 }]);
    await runDue(stub);
    expect(svc.calls).toHaveLength(1);

    // while the socket is open, a new message goes to it and no push is even scheduled
    const second = message();
    const r = await stub.enqueue(erin.id, second.msg, { transferId: second.t.id, expiresAt: Date.parse(second.t.expiresAt) });
    expect(r.sockets).toBe(1);
    await eventually(async () => (frames.some((f) => f.id === second.msg.id) ? true : undefined), 5_000, "the live message");
    expect((await stub.pushLog()).filter((p) => p.message_id === second.msg.id)).toEqual([]);
    await runDue(stub);
    expect(svc.calls).toHaveLength(1);
    await ackAndClose(stub, ws, frames);
  });

  it("a socket that opens while the push service is still answering keeps the push superseded", async () => {
    const erin = await register("Erin");
    const stub = terminalStub(erin.id);
    await stub.putSubscription(erin.id, await browserSubscription(`race-${erin.id}`));
    // the push service holds its answer (503) until the terminal has connected. (Flags and
    // polling, not promises: a promise resolved in the DO's I/O context would carry the test
    // on in that context, which workerd forbids.)
    let called = false;
    let released = false;
    vi.restoreAllMocks();
    const calls: string[] = [];
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new Request(input, init).url;
      if (!url.endsWith(`race-${erin.id}`)) return new Response(null, { status: 201 }); // other tests' terminals
      calls.push(url);
      called = true;
      while (!released) await sleep(5);
      return new Response(null, { status: 503 });
    });
    const { msg, t } = message();
    await stub.enqueue(erin.id, msg, { transferId: t.id, expiresAt: Date.parse(t.expiresAt) });
    const alarm = runDurableObjectAlarm(stub);
    await eventually(async () => (called ? true : undefined), 5_000, "the push attempt");
    const { ws, frames } = await openSocket(erin);
    released = true;
    await alarm;
    await eventually(async () => ((await stub.pushLog())[0]?.attempts === 1 ? true : undefined), 5_000, "the attempt recorded");
    expect(await stub.pushLog()).toMatchObject([{ state: "superseded", attempts: 1, last_status: 503 }]);
    // the socket acknowledges the message, then goes (the close handled): nothing more is pushed
    await eventually(async () => (frames.some((f) => f.id === msg.id) ? true : undefined), 5_000, "the replay");
    await ackAndClose(stub, ws, frames);
    await runDue(stub);
    expect(calls).toHaveLength(1);
  });

  it("a subscription whose push service never answers holds up only itself, not the terminal's others", async () => {
    const { id, stub } = await freshTerminal();
    const hanging = await browserSubscription(`${id}-hang`);
    const laptop = await browserSubscription(`${id}-laptop`);
    await stub.putSubscription(id, hanging); // first: pushes used to go one after another
    await stub.putSubscription(id, laptop);
    let released = false;
    const calls: string[] = [];
    vi.restoreAllMocks();
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new Request(input, init).url;
      calls.push(url);
      if (url === hanging.endpoint) while (!released) await sleep(5);
      return new Response(null, { status: 201 });
    });
    const { msg, t } = message();
    await stub.enqueue(id, msg, { transferId: t.id, expiresAt: Date.parse(t.expiresAt) });
    const alarm = runDurableObjectAlarm(stub);
    try {
      // the laptop's push goes out while the other push service is still silent
      await eventually(async () => (calls.includes(laptop.endpoint) ? true : undefined), 3_000, "the laptop's push");
      expect(calls).toContain(hanging.endpoint);
    } finally {
      released = true;
      await alarm;
    }
    // (workerd may have run the alarm itself as well: wait for the held push to finish)
    await eventually(async () => ((await stub.pushLog()).every((p) => p.state === "sent") ? true : undefined), 5_000, "both sent");
  });

  it("a socket that opens while a push is under way stops the pushes after it in the same round", async () => {
    const erin = await register("Erin");
    const stub = terminalStub(erin.id);
    const sub = await browserSubscription(`round-${erin.id}`);
    await stub.putSubscription(erin.id, sub);
    let released = false;
    const calls: string[] = [];
    vi.restoreAllMocks();
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new Request(input, init).url;
      if (url !== sub.endpoint) return new Response(null, { status: 201 });
      calls.push(url);
      // the push service is down for the first try of each message, then holds its answer
      if (calls.length <= 2) return new Response(null, { status: 503, headers: { "retry-after": "60" } });
      while (!released) await sleep(5);
      return new Response(null, { status: 201 });
    });
    const first = message();
    const second = message();
    for (const m of [first, second]) {
      await stub.enqueue(erin.id, m.msg, { transferId: m.t.id, expiresAt: Date.parse(m.t.expiresAt) });
      await runDurableObjectAlarm(stub);
    }
    await eventually(async () => ((await stub.pushLog()).filter((p) => p.attempts === 1).length === 2 ? true : undefined), 5_000, "two first tries");
    // both retries are due in one round
    await runInDurableObject(stub, (_: Terminal, state) => {
      state.storage.sql.exec("UPDATE pushes SET next_at = 0 WHERE state = 'pending'");
    });
    const alarm = runDurableObjectAlarm(stub);
    await eventually(async () => (calls.length === 3 ? true : undefined), 5_000, "the first retry under way");
    const { ws, frames } = await openSocket(erin);
    released = true;
    await alarm;
    await eventually(async () => ((await stub.pushLog()).some((p) => p.state === "sent") ? true : undefined), 5_000, "the held push done");
    expect(calls).toHaveLength(3);
    const log = await stub.pushLog();
    expect(log.find((p) => p.message_id === first.msg.id)).toMatchObject({ state: "sent", attempts: 2 });
    expect(log.find((p) => p.message_id === second.msg.id)).toMatchObject({ state: "superseded", attempts: 1 });
    await eventually(async () => (frames.length >= 2 ? true : undefined), 5_000, "both replayed");
    await ackAndClose(stub, ws, frames);
  });

  it("a transfer that ends while its ready push is being retried: the retry stops, the end is pushed", async () => {
    const { id, stub } = await freshTerminal("phone");
    const { msg, t } = message();
    svc.reply(status(500));
    await deliverOffline(stub, id, msg, t, svc.calls);
    const cancelled: ServerMessage = { type: "transfer.cancelled", id: `${t.id}.cancelled`, transferId: t.id };
    await stub.enqueue(id, cancelled, { transferId: t.id, expiresAt: null, supersedes: "transfer.ready" });
    await runDurableObjectAlarm(stub);
    await eventually(async () => (svc.calls.length >= 2 ? true : undefined), 5_000, "the cancel push");
    await runDue(stub);
    expect(svc.calls).toHaveLength(2);
    expect(svc.calls[1]!.headers.topic).toBe(t.id); // replaces the ready one at the push service
    expect(svc.calls[1]!.headers.urgency).toBe("normal");
    const log = await stub.pushLog();
    expect(log.find((p) => p.message_id === msg.id)).toMatchObject({ state: "superseded", attempts: 1 });
    expect(log.find((p) => p.message_id === cancelled.id)).toMatchObject({ state: "sent", attempts: 1 });
  });
});

describe("Terminal Durable Object: which sockets count as live", () => {
  let svc: ReturnType<typeof pushService>;
  beforeEach(() => {
    svc = pushService();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it(`a socket not heard from for ${LIVE_WINDOW_MS / 1000} s (a phone that lost its network) no longer stops the push`, async () => {
    const frank = await register("Frank");
    const stub = terminalStub(frank.id);
    await stub.putSubscription(frank.id, await browserSubscription(`stale-${frank.id}`));
    const calls = () => svc.calls.filter((c) => c.url.endsWith(`stale-${frank.id}`));
    const { ws, frames } = await openSocket(frank);
    expect(await socketsOf(stub)).toBe(1);
    // the socket was last heard from long ago
    await runInDurableObject(stub, (_instance: Terminal, state) => {
      for (const s of state.getWebSockets()) s.serializeAttachment({ seen: Date.now() - LIVE_WINDOW_MS - 1000 });
    });
    const { msg, t } = message();
    const r = await stub.enqueue(frank.id, msg, { transferId: t.id, expiresAt: Date.parse(t.expiresAt) });
    expect(r.sockets).toBe(1);
    await eventually(async () => (frames.some((f) => f.id === msg.id) ? true : undefined), 5_000, "the frame on the socket");
    await runDue(stub);
    await eventually(async () => (calls().length === 1 ? true : undefined), 5_000, "the push");
    expect((await stub.pushLog()).find((p) => p.message_id === msg.id)).toMatchObject({ state: "sent" });

    // a frame from the client makes it live again: the next message is not pushed
    ws.send(JSON.stringify({ type: "ping" }));
    await eventually(async () => (frames.some((f) => f.type === "pong") ? true : undefined), 5_000, "pong");
    const second = message();
    await stub.enqueue(frank.id, second.msg, { transferId: second.t.id, expiresAt: Date.parse(second.t.expiresAt) });
    await runDue(stub);
    expect(calls()).toHaveLength(1);
    expect((await stub.pushLog()).filter((p) => p.message_id === second.msg.id)).toEqual([]);
    await ackAndClose(stub, ws, frames);
  });

  it("a push waiting for its retry, taken over by a socket that goes without acknowledging, is pushed again", async () => {
    const hank = await register("Hank");
    const stub = terminalStub(hank.id);
    const sub = await browserSubscription(`rearm-${hank.id}`);
    await stub.putSubscription(hank.id, sub);
    const tries: string[] = [];
    const calls = () => tries;
    vi.restoreAllMocks();
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new Request(input, init).url;
      if (url !== sub.endpoint) return new Response(null, { status: 201 });
      tries.push(url);
      return new Response(null, tries.length === 1 ? { status: 503, headers: { "retry-after": "30" } } : { status: 201 });
    });
    const { msg, t } = message();
    await stub.enqueue(hank.id, msg, { transferId: t.id, expiresAt: Date.parse(t.expiresAt) });
    await runDurableObjectAlarm(stub);
    await eventually(async () => (calls().length === 1 ? true : undefined), 20_000, "the first attempt (503)");
    // the app wakes, gets the replay, and is killed before it acknowledges
    const { ws, frames } = await openSocket(hank);
    await eventually(async () => (frames.some((f) => f.id === msg.id) ? true : undefined), 20_000, "the replay");
    expect((await stub.pushLog())[0]).toMatchObject({ state: "superseded", attempts: 1 });
    ws.close(1001, "killed");
    // due again: pending, or already sent if the object's own alarm beat this poll to it
    await eventually(async () => (["pending", "sent"].includes((await stub.pushLog())[0]?.state ?? "") ? true : undefined), 20_000, "the push due again");
    await runDue(stub);
    await eventually(async () => (calls().length === 2 ? true : undefined), 20_000, "the second attempt");
    expect((await stub.pushLog())[0]).toMatchObject({ state: "sent", attempts: 2 });
  });

  it("when the last socket closes with a message it never acknowledged, that message is pushed once", async () => {
    const gina = await register("Gina");
    const stub = terminalStub(gina.id);
    await stub.putSubscription(gina.id, await browserSubscription(`close-${gina.id}`));
    const calls = () => svc.calls.filter((c) => c.url.endsWith(`close-${gina.id}`));
    const { ws, frames } = await openSocket(gina);
    const acked = message();
    const unacked = message();
    await stub.enqueue(gina.id, acked.msg, { transferId: acked.t.id, expiresAt: Date.parse(acked.t.expiresAt) });
    await stub.enqueue(gina.id, unacked.msg, { transferId: unacked.t.id, expiresAt: Date.parse(unacked.t.expiresAt) });
    await eventually(async () => (frames.length >= 2 ? true : undefined), 5_000, "both frames");
    ws.send(JSON.stringify({ type: "ack", id: acked.msg.id }));
    await eventually(async () => ((await stub.pendingCount()) === 1 ? true : undefined), 5_000, "the ack");
    expect(calls()).toHaveLength(0);
    ws.close(1000, "bye");
    await eventually(async () => ((await stub.pushLog()).length > 0 ? true : undefined), 5_000, "a push scheduled on close");
    await runDue(stub);
    await eventually(async () => (calls().length >= 1 ? true : undefined), 5_000, "the push");
    await runDue(stub);
    expect(calls()).toHaveLength(1);
    expect(await stub.pushLog()).toMatchObject([{ message_id: unacked.msg.id, state: "sent" }]);
  });

  it("TTL: the message's remaining life, never more (0 in its last second), at most 28 days", () => {
    const now = Date.now();
    expect(pushTtl(now + 14_900, now)).toBe(14);
    expect(pushTtl(now + 3_600_000, now)).toBe(3600);
    expect(pushTtl(now + 500, now)).toBe(0);
    expect(pushTtl(now - 5_000, now)).toBe(0);
    expect(pushTtl(now + 60 * 24 * 3_600_000, now)).toBe(28 * 24 * 3600);
    expect(pushTtl(null, now)).toBe(28 * 24 * 3600);
  });

  it("cutting a text for a push never leaves half of a surrogate pair", () => {
    const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
    expect(cut("ab\u{1F600}cd", 4)).toBe("ab…");
    expect(cut("ab\u{1F600}cd", 5)).toBe("ab\u{1F600}…");
    for (let max = 1; max < 30; max++) expect(cut("\u{1F600}".repeat(20), max)).not.toMatch(loneSurrogate);
    const t = fakeTransfer(1000);
    t.message = `${"m".repeat(279)}${"\u{1F600}".repeat(300)}`;
    expect(JSON.stringify(trimForPush(ready(t)))).not.toMatch(loneSurrogate);
  });

  it("receipts from different recipients of one transfer use different Topics", () => {
    const a: ServerMessage = { type: "transfer.downloaded", id: "T.downloaded.1", transferId: "AAAAAAAAAAAATransferId", by: "123456784", at: "x" };
    const b: ServerMessage = { ...a, id: "T.downloaded.2", by: "987654325" };
    expect(pushTopic(a)).not.toBe(pushTopic(b));
    expect(pushTopic(a)!.length).toBeLessThanOrEqual(32);
    expect(pushTopic(a)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(pushTopic(ready(fakeTransfer(1)))).toBe("AAAAAAAAAAAATransferId");
  });
});

describe("limits on what a terminal keeps", () => {
  it(`keeps the newest ${MAX_SUBSCRIPTIONS} push subscriptions`, async () => {
    const t = await register("many-devices");
    const stub = terminalStub(t.id);
    for (let i = 0; i < MAX_SUBSCRIPTIONS + 3; i++) {
      await stub.putSubscription(t.id, await browserSubscription(`dev-${i}-${t.id}`));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await stub.subscriptionCount()).toBe(MAX_SUBSCRIPTIONS);
    const kept = await runInDurableObject(stub, (_i: Terminal, state) =>
      state.storage.sql.exec<{ endpoint: string }>("SELECT endpoint FROM subscriptions").toArray().map((r) => r.endpoint),
    );
    expect(kept.some((e) => e.includes(`dev-0-`))).toBe(false);
    expect(kept.some((e) => e.includes(`dev-${MAX_SUBSCRIPTIONS + 2}-`))).toBe(true);
  });
});

describe("a sealed transfer by Web Push (v1.2)", () => {
  let svc: ReturnType<typeof pushService>;
  beforeEach(() => {
    svc = pushService();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** Bob, offline with one readable subscription, is sent a sealed transfer whose seal.age is `seal`; returns what was pushed. */
  async function pushedFor(seal: Uint8Array, opts: { rotate?: boolean } = {}) {
    const [alice, bob] = [await register("Anna"), await register("Bob")];
    const { sub, open } = await readableSubscription(`sealed-${bob.id}`);
    const stub = terminalStub(bob.id);
    await stub.putSubscription(bob.id, sub);
    if (opts.rotate) expect((await api(`/v1/terminals/${bob.id}/token`, { method: "POST", headers: bob.auth })).status).toBe(200);
    const t = await sendFiles(alice, [bob], [{ name: "1.age", data: someBytes(300, 7) }, { name: "seal.age", data: seal }], { sealed: true, message: null });
    const call = await eventually(async () => {
      const c = svc.calls.find((x) => x.url === sub.endpoint);
      if (!c) await runDurableObjectAlarm(stub);
      return c;
    }, 10_000, "the push");
    expect(call.bytes).toBe(4096);
    return { t, payload: (await open(call.body!)) as any };
  }

  it("carries seal.age (base64) in the pushed transfer.ready when it fits", async () => {
    const seal = someBytes(1200, 9);
    const { t, payload } = await pushedFor(seal);
    expect(payload).toMatchObject({ type: "transfer.ready", id: `${t.id}.ready`, transfer: { id: t.id, sealed: true, message: null } });
    expect(Uint8Array.from(atob(payload.seal), (c) => c.charCodeAt(0))).toEqual(seal);
  });

  it("a subscription made with a token since rotated away gets no seal (nor links)", async () => {
    const { t, payload } = await pushedFor(someBytes(1200, 11), { rotate: true });
    expect(payload).toMatchObject({ type: "transfer.ready", transfer: { id: t.id, sealed: true, downloadUrl: null } });
    expect(payload).not.toHaveProperty("seal");
  });

  it("says only that a sealed transfer came, from whom, when seal.age does not fit (padded to 4 KiB, as client/seal makes it)", async () => {
    const { t, payload } = await pushedFor(someBytes(86 + 98 + 4096 + 16, 10));
    expect(payload).not.toHaveProperty("seal");
    expect(payload).toMatchObject({ type: "transfer.ready", transfer: { id: t.id, sealed: true, from: { name: "Anna" } } });
  });
});
