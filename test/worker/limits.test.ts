import { abortAllDurableObjects, createExecutionContext, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../../src/app";
import { LIMIT_DEFAULTS, limitsOf } from "../../src/limits/config";
import { takeToken, writeEvery } from "../../src/limits/limiter";
import { clientAddress, ipv6Prefix64 } from "../../src/limits/rate";
import { MAX_SOCKETS } from "../../src/config";
import { CLOSE_TOO_MANY_SOCKETS } from "../../src/notify/sockets";
import { BASE, countRows, env, eventually, json, openSocket, register, type TestTerminal } from "./helpers";
import { call, create } from "./support-limits";

/**
 * Limits and quotas: each a [vars] value, enforced before anything is recorded, answered 413
 * or 429 (with Retry-After) naming the limit. The worker here runs with a few limits set
 * low for one request (the same app, another env), as an operator would set them.
 */

async function expectLimit(res: Response, status: number, code: string, limit: string) {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  const body = await json(res);
  expect(body.error.code).toBe(code);
  expect(body.error.details.limit).toBe(limit);
  return body.error;
}

let ip = 0;
/** a client address of its own for each test */
const address = () => `203.0.113.${++ip}`;

describe("the limits in force", () => {
  it("come from [vars], each a positive integer, else the default", () => {
    expect(limitsOf({})).toEqual(LIMIT_DEFAULTS);
    const l = limitsOf({ LIMIT_FILE_BYTES: "1000", LIMIT_FILES_PER_TRANSFER: " 7 ", LIMIT_TRANSFER_BYTES: "-5", LIMIT_REQUESTS_PER_TERMINAL_MINUTE: "lots", LIMIT_TRANSFERS_PER_SENDER_HOUR: "0" });
    expect(l.LIMIT_FILE_BYTES).toBe(1000);
    expect(l.LIMIT_FILES_PER_TRANSFER).toBe(7);
    expect(l.LIMIT_TRANSFER_BYTES).toBe(LIMIT_DEFAULTS.LIMIT_TRANSFER_BYTES);
    expect(l.LIMIT_REQUESTS_PER_TERMINAL_MINUTE).toBe(LIMIT_DEFAULTS.LIMIT_REQUESTS_PER_TERMINAL_MINUTE);
    expect(l.LIMIT_TRANSFERS_PER_SENDER_HOUR).toBe(LIMIT_DEFAULTS.LIMIT_TRANSFERS_PER_SENDER_HOUR);
  });

  it("the token bucket: capacity at first, refills at capacity per period, says when to retry", () => {
    let s: { tokens: number; at: number } | null = null;
    const take = (now: number) => {
      const r = takeToken(s, now, 3, 60_000);
      s = r.state;
      return r.taken;
    };
    expect([take(0).ok, take(0).ok, take(0).ok]).toEqual([true, true, true]);
    expect(take(0)).toEqual({ ok: false, retryAfterMs: 20_000, remaining: 0 });
    expect(take(10_000)).toMatchObject({ ok: false, retryAfterMs: 10_000 });
    expect(take(20_000).ok).toBe(true);
    // a long pause refills to capacity, never beyond
    expect(take(10_000_000)).toMatchObject({ ok: true, remaining: 2 });
  });

  it("client addresses: IPv4 as is, IPv6 by its /64, none: one shared bucket", () => {
    const addr = (ip?: string) => clientAddress(new Request(BASE, { headers: ip ? { "cf-connecting-ip": ip } : {} }));
    expect(addr("198.51.100.7")).toBe("198.51.100.7");
    expect(addr("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(addr("2001:DB8:1:2::99")).toBe("2001:db8:1:2::/64");
    expect(addr("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addr()).toBe("unknown");
    expect(ipv6Prefix64("::1")).toBe("0:0:0:0");
    expect(ipv6Prefix64("::ffff:192.0.2.1")).toBe("0:0:0:0");
    expect(ipv6Prefix64("fe80::1%eth0")).toBe("fe80:0:0:0");
    expect(ipv6Prefix64("2001:0db8:0000:0001::")).toBe("2001:db8:0:1");
  });
});

describe("413: sizes and counts, checked before anything is recorded", () => {
  it("largest file, largest transfer, files per transfer; the one-shot send too", async () => {
    const a = await register();
    const b = await register();
    const limits = { LIMIT_FILE_BYTES: "100", LIMIT_TRANSFER_BYTES: "150", LIMIT_FILES_PER_TRANSFER: "3" };
    const before = await countRows("transfers");
    const file = await expectLimit(await create(limits, a, { to: [b.id], files: [{ name: "a", size: 50 }, { name: "b", size: 101 }] }), 413, "file_too_large", "LIMIT_FILE_BYTES");
    expect(file.details).toEqual({ limit: "LIMIT_FILE_BYTES", max: 100, index: 1 });
    await expectLimit(await create(limits, a, { to: [b.id], files: [{ name: "a", size: 100 }, { name: "b", size: 51 }] }), 413, "transfer_too_large", "LIMIT_TRANSFER_BYTES");
    await expectLimit(await create(limits, a, { to: [b.id], files: ["a", "b", "c", "d"].map((name) => ({ name, size: 1 })) }), 413, "too_many_files", "LIMIT_FILES_PER_TRANSFER");
    await expectLimit(
      await call(limits, `/v1/send/${b.id}/big.bin`, { method: "PUT", headers: { ...a.auth, "content-length": "101" }, body: new Uint8Array(101) }),
      413,
      "file_too_large",
      "LIMIT_FILE_BYTES",
    );
    expect(await countRows("transfers")).toBe(before);
    // at the limits exactly: accepted
    expect((await create(limits, a, { to: [b.id], files: [{ name: "a", size: 100 }, { name: "b", size: 50 }, { name: "c", size: 0 }] })).status).toBe(201);
  });

  it("pending bytes per recipient: received bytes count, declarations do not (test/worker/quota.test.ts has every rule)", async () => {
    const stranger = await register();
    const friend = await register();
    const r = await register();
    const limits = { LIMIT_PENDING_BYTES_PER_RECIPIENT: "100" };
    // a declaration of the whole inbox reserves nothing
    expect((await create(limits, stranger, { to: [r.id], files: [{ name: "a", size: 100 }] })).status).toBe(201);
    const t = await json(await create(limits, friend, { to: [r.id], files: [{ name: "b", size: 41 }] }));
    expect((await call(limits, `/v1/transfers/${t.id}/files/0`, { method: "PUT", headers: friend.auth, body: new Uint8Array(41) })).status).toBe(200);
    // 41 received: rounded up to a step of 2, 42 + 59 > 100
    const err = await expectLimit(await create(limits, stranger, { to: [r.id], files: [{ name: "c", size: 59 }] }), 413, "inbox_full", "LIMIT_PENDING_BYTES_PER_RECIPIENT");
    expect(err.details).toEqual({ limit: "LIMIT_PENDING_BYTES_PER_RECIPIENT", max: 100, recipients: [r.id] });
    // a message without files takes no room
    expect((await create(limits, friend, { to: [r.id], files: [], message: "your inbox is full" })).status).toBe(201);
    expect((await create(limits, stranger, { to: [r.id], files: [{ name: "c", size: 58 }] })).status).toBe(201);
    // the friend's transfer is cancelled: its bytes no longer count
    expect((await call({}, `/v1/transfers/${t.id}`, { method: "DELETE", headers: friend.auth })).status).toBe(204);
    expect((await create(limits, stranger, { to: [r.id], files: [{ name: "d", size: 100 }] })).status).toBe(201);
  });
});

describe("made-up tokens", () => {
  it("a token D1 does not know is looked up once: the same token again costs no D1 read, and still gets 401", async () => {
    const statements: string[] = [];
    const db = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare") return (sql: string) => (statements.push(sql), target.prepare(sql));
        const v = Reflect.get(target, prop);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const who = await register();
    const bogus = `pd_${"A".repeat(43)}`;
    const ask = async (token: string) => {
      statements.length = 0;
      const ctx = createExecutionContext();
      const res = await app.fetch(
        new Request(`${BASE}/v1/terminals/${who.id}/inbox`, { headers: { authorization: `Bearer ${token}`, "cf-connecting-ip": address() } }),
        { ...env, DB: db },
        ctx,
      );
      await waitOnExecutionContext(ctx);
      return { status: res.status, lookups: statements.filter((q) => /FROM terminals WHERE token_hash/.test(q)).length };
    };
    expect(await ask(bogus)).toEqual({ status: 401, lookups: 1 });
    expect(await ask(bogus)).toEqual({ status: 401, lookups: 0 });
    // a real token is looked up as always, and works
    expect((await ask(who.token)).status).toBe(200);
  });
});

describe("the bucket object", () => {
  const stored = (stub: DurableObjectStub) =>
    runInDurableObject(stub, (_o, state) => state.storage.sql.exec<{ tokens: number }>("SELECT tokens FROM bucket").toArray().map((r) => r.tokens));

  it("a bucket more than half full is written every writeEvery-th take, one less than half full on every take; what was written outlives a restart", async () => {
    // a per-minute bucket of 600: one write in 50 takes (at most 50 requests gained per 10 s of silence)
    expect(writeEvery(600, 60_000)).toBe(50);
    const name = `test:${crypto.randomUUID()}`;
    const stub = env.LIMITER.get(env.LIMITER.idFromName(name));
    const started = Date.now();
    for (let i = 0; i < 49; i++) expect((await stub.take(600, 60_000)).ok).toBe(true);
    expect(await stored(stub)).toEqual([]); // no durable write held these answers
    await stub.take(600, 60_000);
    // what the 50th take left: 550 tokens, plus what refilled meanwhile (10 a second; the takes take
    // ~0.2 s here, more on a loaded machine, so the bound is the time they really took)
    const refilled = ((Date.now() - started) / 60_000) * 600;
    expect((await stored(stub))[0]).toBeGreaterThan(549.99);
    expect((await stored(stub))[0]).toBeLessThanOrEqual(550 + refilled + 0.01);
    await abortAllDurableObjects();
    // a fresh instance goes on from what was written: not a full bucket again
    const again = env.LIMITER.get(env.LIMITER.idFromName(name));
    expect((await again.take(600, 60_000)).remaining).toBeLessThan(560);
  });

  it("an hourly bucket (registrations) is written on every take, and a nearly empty one too", async () => {
    expect(writeEvery(30, 3_600_000)).toBe(1);
    const hourly = env.LIMITER.get(env.LIMITER.idFromName(`test:${crypto.randomUUID()}`));
    await hourly.take(30, 3_600_000);
    expect((await stored(hourly))[0]).toBeCloseTo(29, 1);
    const smallName = `test:${crypto.randomUUID()}`;
    const small = env.LIMITER.get(env.LIMITER.idFromName(smallName));
    for (let i = 0; i < 3; i++) await small.take(4, 60_000);
    expect((await stored(small))[0]).toBeCloseTo(1, 1); // below half: written
    expect((await small.take(4, 60_000)).ok).toBe(true);
    expect((await small.take(4, 60_000)).ok).toBe(false);
    await abortAllDurableObjects();
    // refused before the restart, refused after it
    expect((await env.LIMITER.get(env.LIMITER.idFromName(smallName)).take(4, 60_000)).ok).toBe(false);
  });
});

describe("429 with Retry-After", () => {
  it("transfers per sender per hour", async () => {
    const a = await register();
    const b = await register();
    const limits = { LIMIT_TRANSFERS_PER_SENDER_HOUR: "3" };
    for (let i = 0; i < 3; i++) expect((await create(limits, a, { to: [b.id], files: [], message: `m${i}` })).status).toBe(201);
    const before = await countRows("transfers");
    const res = await create(limits, a, { to: [b.id], files: [], message: "one too many" });
    const err = await expectLimit(res, 429, "rate_limited", "LIMIT_TRANSFERS_PER_SENDER_HOUR");
    const retry = Number(res.headers.get("retry-after"));
    expect(retry).toBeGreaterThan(3500);
    expect(retry).toBeLessThanOrEqual(3600);
    expect(err.details).toMatchObject({ max: 3, retryAfter: retry });
    expect(await countRows("transfers")).toBe(before);
    // another sender is not affected
    expect((await create(limits, b, { to: [a.id], files: [], message: "hi" })).status).toBe(201);
  });

  it("registrations per client address (an IPv6 /64 is one address)", async () => {
    const limits = { LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR: "2", LIMIT_REQUESTS_PER_ADDRESS_MINUTE: "1000" };
    const reg = (ip: string) => call(limits, "/v1/terminals", { method: "POST", headers: { "cf-connecting-ip": ip } });
    const ip = address();
    expect((await reg(ip)).status).toBe(201);
    expect((await reg(ip)).status).toBe(201);
    const before = await countRows("terminals");
    const res = await reg(ip);
    await expectLimit(res, 429, "rate_limited", "LIMIT_REGISTRATIONS_PER_ADDRESS_HOUR");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(1000); // an hour / 2, less the time since
    expect(await countRows("terminals")).toBe(before);
    expect((await reg(address())).status).toBe(201);
    expect((await reg("2001:db8:aa:1::1")).status).toBe(201);
    expect((await reg("2001:db8:aa:1::2")).status).toBe(201);
    expect((await reg("2001:db8:aa:1:ffff::3")).status).toBe(429);
    expect((await reg("2001:db8:aa:2::1")).status).toBe(201);
  });

  it("requests per terminal: one terminal's flood does not touch another's budget", async () => {
    const a = await register();
    const b = await register();
    const limits = { LIMIT_REQUESTS_PER_TERMINAL_MINUTE: "5" };
    const get = (t: TestTerminal) => call(limits, `/v1/terminals/${t.id}/inbox`, { headers: t.auth });
    for (let i = 0; i < 5; i++) expect((await get(a)).status).toBe(200);
    const res = await get(a);
    await expectLimit(res, 429, "rate_limited", "LIMIT_REQUESTS_PER_TERMINAL_MINUTE");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect((await get(b)).status).toBe(200);
    // a limited request does nothing: a transfer it asks for is not created
    const before = await countRows("transfers");
    expect((await create(limits, a, { to: [b.id], files: [], message: "x" })).status).toBe(429);
    expect(await countRows("transfers")).toBe(before);
  });

  it("requests without a valid token, per client address (a bad token does not buy a fresh bucket)", async () => {
    const limits = { LIMIT_REQUESTS_PER_ADDRESS_MINUTE: "3" };
    const ip = address();
    const t = await register();
    const anon = (headers: Record<string, string> = {}) => call(limits, `/v1/terminals/${t.id}`, { headers: { "cf-connecting-ip": ip, ...headers } });
    expect((await anon()).status).toBe(200);
    expect((await anon({ authorization: `Bearer pd_${"A".repeat(43)}` })).status).toBe(200);
    expect((await anon({ authorization: "Bearer nonsense" })).status).toBe(200);
    await expectLimit(await anon({ authorization: `Bearer pd_${"B".repeat(43)}` }), 429, "rate_limited", "LIMIT_REQUESTS_PER_ADDRESS_MINUTE");
    // a valid token from the same address counts for its terminal instead
    expect((await call(limits, `/v1/terminals/${t.id}/inbox`, { headers: { "cf-connecting-ip": ip, ...t.auth } })).status).toBe(200);
    // another address is not affected
    expect((await call(limits, `/v1/terminals/${t.id}`, { headers: { "cf-connecting-ip": address() } })).status).toBe(200);
  });
});

describe("sockets per terminal", () => {
  it(`at most ${MAX_SOCKETS}: one more closes the one heard from longest ago (4008), the others stay`, async () => {
    const t = await register();
    const sockets: Array<Awaited<ReturnType<typeof openSocket>>> = [];
    for (let i = 0; i < MAX_SOCKETS; i++) sockets.push(await openSocket(t));
    for (const s of sockets.slice(1)) s.send({ type: "ping" });
    await eventually(async () => (sockets.slice(1).every((s) => s.frames.some((f) => f?.type === "pong")) ? true : undefined), 5000, "pongs");
    const extra = await openSocket(t);
    await eventually(async () => (sockets[0]!.isClosed() ? true : undefined), 5000, "the oldest closed");
    expect(sockets[0]!.closeCode()).toBe(CLOSE_TOO_MANY_SOCKETS);
    expect(sockets.slice(1).some((s) => s.isClosed())).toBe(false);
    expect(extra.isClosed()).toBe(false);
    for (const s of [...sockets, extra]) s.close();
  });
});
