import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REFUSED_ENDPOINTS } from "./support/endpoints.ts";
import { register, removeState, sleep, startServer, type Server, type Terminal } from "./support/server.ts";

/**
 * From outside, as a browser and as an attacker would, under the real `npm start`: the
 * headers a browser sees on the web app (static assets, not the Worker) and on the API; and
 * more than 200 hostile requests (foreign and rotated tokens, deleted terminals, refused
 * senders, malformed ids and bodies, push endpoints aimed at private addresses), each of which
 * must get a clear 4xx JSON error (never a 5xx, a page or a stack trace) and change nothing.
 */

let server: Server;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  console.log(`[hostile] ${requests} requests, none answered with a 5xx`);
  await server?.stop();
  if (server) removeState(server.state);
});

describe("the web app's headers (public/_headers, applied by Workers Static Assets)", () => {
  it("a strict CSP, no referrer, nosniff and no framing, on the app and on every SPA route", async () => {
    for (const path of ["/", "/index.html", "/t/123456784", "/deep/spa/route?x=1"]) {
      const res = await fetch(`${server.base}${path}`);
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
      const csp = res.headers.get("content-security-policy") ?? "";
      const directives = Object.fromEntries(csp.split(";").map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v.join(" ")]));
      expect(directives).toMatchObject({
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "connect-src": "'self'",
        "img-src": "'self' data: blob:",
        "worker-src": "'self'",
        "manifest-src": "'self'",
        "object-src": "'none'",
        "frame-ancestors": "'none'",
      });
      // no way to run inline or injected code
      expect(csp).not.toMatch(/unsafe-inline|unsafe-eval|\*/);
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
    }
  });

  it("the scripts that hash or seal whole files (/seal-encrypt.js, /seal-hash.js, /sw.js) may also run WebAssembly, and nothing else changes for them", async () => {
    const page = (await fetch(`${server.base}/`)).headers.get("content-security-policy")!;
    const withWasm = page.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'");
    expect(withWasm).not.toBe(page);
    for (const path of ["/seal-encrypt.js", "/seal-hash.js", "/sw.js"]) {
      const res = await fetch(`${server.base}${path}`);
      expect(res.status, path).toBe(200);
      await res.arrayBuffer();
      // one policy (the app's is unset for these paths, not joined to this one), WebAssembly only
      expect(res.headers.get("content-security-policy"), path).toBe(withWasm);
      expect(res.headers.get("content-security-policy"), path).not.toMatch(/'unsafe-eval'|unsafe-inline/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
    // (/seal-aead.js runs under the policy of /seal-encrypt.js, which loads it: its own is the page's)
    for (const path of ["/seal-aead.js", "/sw-seal.js", "/app.js"]) {
      const res = await fetch(`${server.base}${path}`);
      await res.arrayBuffer();
      expect(res.headers.get("content-security-policy"), path).toBe(page);
    }
  });

  it("the API keeps its own headers (the Worker answers /v1 first)", async () => {
    const res = await fetch(`${server.base}/v1/push/vapid-public-key`);
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    await res.arrayBuffer();
  });
});

// ---- the hostile-input suite ------------------------------------------------------------------

let requests = 0;

/**
 * A request that must be answered sanely: never a 5xx, never HTML or a stack trace; errors in
 * the one JSON shape. Sent with node:http, which (unlike fetch) sends any method and any
 * header, Upgrade included.
 */
async function hit(method: string, p: string, init: { headers?: Record<string, string>; body?: string | Uint8Array } = {}): Promise<{ status: number; body: any }> {
  requests++;
  const { status, type, text } = await new Promise<{ status: number; type: string; text: string }>((resolve, reject) => {
    const req = request(`${server.base}${p}`, { method, headers: init.headers });
    req.on("response", (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, type: String(res.headers["content-type"] ?? ""), text }));
    });
    req.on("upgrade", (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, type: "", text: "" });
    });
    req.on("error", reject);
    req.end(init.body);
  });
  expect(status, `${method} ${p} → ${status} ${text.slice(0, 200)}`).toBeLessThan(500);
  expect(text).not.toMatch(/<html|\n\s+at .+\(.*:\d+:\d+\)/i);
  let body: any = null;
  if (status >= 400) {
    expect(type, `${method} ${p}`).toBe("application/json; charset=utf-8");
    body = JSON.parse(text);
    expect(Object.keys(body)).toEqual(["error"]);
    expect(body.error.code).toMatch(/^[a-z][a-z0-9_]*$/);
    expect(typeof body.error.message).toBe("string");
  } else if (text && type.startsWith("application/json")) body = JSON.parse(text);
  return { status, body };
}

const auth = (t: Terminal | string) => ({ authorization: `Bearer ${typeof t === "string" ? t : t.token}` });
const jsonHeaders = (t: Terminal) => ({ ...auth(t), "content-type": "application/json" });

describe("hostile input against npm start (v1 and v1.1 endpoints)", () => {
  let a: Terminal;
  let b: Terminal;
  let c: Terminal;
  const settingsOf = async (t: Terminal) => (await hit("GET", `/v1/terminals/${t.id}/settings`, { headers: auth(t) })).body;

  beforeAll(async () => {
    a = await register(server.base, "Alice");
    b = await register(server.base, "Bob");
    c = await register(server.base, "Carol");
    requests += 3;
  });

  it("another terminal's token on settings, contacts, blocked, token, delete, subscriptions, inbox, socket: 403, nothing changes", async () => {
    const before = await settingsOf(b);
    const sub = { endpoint: "https://fcm.googleapis.com/fcm/send/x", keys: { p256dh: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg", auth: "AAAAAAAAAAAAAAAAAAAAAA" } };
    const attempts: Array<[string, string, (string | Uint8Array)?]> = [
      ["GET", `/v1/terminals/${b.id}/settings`],
      ["PATCH", `/v1/terminals/${b.id}/settings`, JSON.stringify({ accept: "known", name: "owned" })],
      ["PUT", `/v1/terminals/${b.id}/contacts/${a.id}`],
      ["DELETE", `/v1/terminals/${b.id}/contacts/${a.id}`],
      ["PUT", `/v1/terminals/${b.id}/blocked/${c.id}`],
      ["DELETE", `/v1/terminals/${b.id}/blocked/${c.id}`],
      ["POST", `/v1/terminals/${b.id}/token`],
      ["DELETE", `/v1/terminals/${b.id}`],
      ["PUT", `/v1/terminals/${b.id}/push-subscription`, JSON.stringify(sub)],
      ["DELETE", `/v1/terminals/${b.id}/push-subscription`],
      ["GET", `/v1/terminals/${b.id}/inbox`],
    ];
    for (const [method, p, body] of attempts) {
      for (const who of [a, c]) {
        const r = await hit(method, p, { headers: jsonHeaders(who), body });
        expect(r.status, `${method} ${p}`).toBe(403);
        expect(JSON.stringify(r.body)).not.toContain(b.token);
      }
      // and with no token, or a token that is no token
      expect((await hit(method, p, { headers: { "content-type": "application/json" }, body })).status).toBe(401);
      expect((await hit(method, p, { headers: { ...auth(`pd_${"x".repeat(43)}`), "content-type": "application/json" }, body })).status).toBe(401);
    }
    const sock = await hit("GET", `/v1/terminals/${b.id}/socket?token=${a.token}`, { headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
    expect(sock.status).toBe(403);
    expect(await settingsOf(b)).toEqual(before);
    expect((await hit("GET", `/v1/terminals/${b.id}`)).body.name).toBe("Bob");
  });

  it("malformed ids, paths and methods: 4xx JSON, never a 5xx", async () => {
    const ids = ["", "0", "12345678", "123456789", "1234567890", "abcdefghi", "..", "%2e%2e", "%00", "%ff%fe", "1%2f2", "x".repeat(3000), "€", "123 456 789", "-1", "1e9", "[object Object]"];
    for (const id of ids) {
      for (const [method, suffix] of [["GET", ""], ["DELETE", ""], ["GET", "/settings"], ["PATCH", "/settings"], ["POST", "/token"], ["PUT", `/contacts/${b.id}`], ["PUT", `/blocked/${id}`]] as const) {
        const r = await hit(method, `/v1/terminals/${id}${suffix}`, { headers: jsonHeaders(a), body: method === "PATCH" ? "{}" : undefined });
        expect(r.status).toBeGreaterThanOrEqual(400);
      }
    }
    for (const [method, p] of [
      ["TRACE", "/v1/terminals"], ["PROPFIND", `/v1/terminals/${a.id}`], ["PATCH", "/v1/transfers"], ["POST", `/v1/terminals/${a.id}/settings`],
      ["GET", `/v1/${"a/".repeat(500)}`], ["PUT", `/v1/terminals/${a.id}/contacts/`],
      ["GET", "/v1/transfers/%E0%A4%A"], ["DELETE", "/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA"], ["GET", `/v1/terminals/${a.id}/contacts`],
    ] as const) {
      const r = await hit(method, p, { headers: auth(a) });
      expect(r.status).toBeGreaterThanOrEqual(400);
    }
    // a path that is not in its canonical form is sent there (by the assets layer), not answered
    const odd = await hit("GET", "//v1//terminals");
    expect(odd.status).toBe(307);
  });

  it("bodies that are not what they claim: 4xx, and settings unchanged", async () => {
    const before = await settingsOf(a);
    const bodies: Array<[Record<string, string>, string | Uint8Array]> = [
      [{ "content-type": "application/json" }, "{"],
      [{ "content-type": "application/json" }, "[".repeat(100_000)],
      [{ "content-type": "application/json" }, "null"],
      [{ "content-type": "application/json" }, '{"accept":"everyone"}'],
      [{ "content-type": "application/json" }, '{"accept":null}'],
      [{ "content-type": "application/json" }, '{"name":{"toString":"x"}}'],
      [{ "content-type": "application/json" }, '{"__proto__":{"accept":"known"}}'],
      [{ "content-type": "application/json" }, JSON.stringify({ name: "n".repeat(100_000) })],
      [{ "content-type": "application/json" }, new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])],
      [{ "content-type": "text/plain" }, '{"accept":"known"}'],
      [{ "content-type": "application/x-www-form-urlencoded" }, "accept=known"],
      [{ "content-type": "application/json" }, JSON.stringify({ name: "x", pad: "p".repeat(5 * 1024 * 1024) })],
    ];
    for (const [headers, body] of bodies) {
      const r = await hit("PATCH", `/v1/terminals/${a.id}/settings`, { headers: { ...auth(a), ...headers }, body });
      expect(r.status).toBeGreaterThanOrEqual(400);
    }
    expect(await settingsOf(a)).toEqual(before);
  });

  it("a rotated token fails everywhere at once; a deleted terminal is gone everywhere", async () => {
    const t = await register(server.base, "Rotator");
    requests++;
    const rotated = await hit("POST", `/v1/terminals/${t.id}/token`, { headers: auth(t) });
    expect(rotated.status).toBe(200);
    const fresh = rotated.body.token as string;
    for (const [method, p] of [
      ["GET", `/v1/terminals/${t.id}/settings`], ["GET", `/v1/terminals/${t.id}/inbox`], ["POST", `/v1/terminals/${t.id}/token`], ["DELETE", `/v1/terminals/${t.id}`],
      ["PUT", `/v1/terminals/${t.id}/contacts/${a.id}`], ["PUT", `/v1/terminals/${t.id}/blocked/${a.id}`], ["POST", "/v1/transfers"], ["PUT", `/v1/send/${a.id}/x.txt`],
    ] as const) {
      expect((await hit(method, p, { headers: { ...auth(t), "content-type": "application/json" }, body: method === "POST" && p === "/v1/transfers" ? JSON.stringify({ to: [a.id], files: [], message: "x" }) : undefined })).status, `${method} ${p}`).toBe(401);
    }
    const sock = await hit("GET", `/v1/terminals/${t.id}/socket?token=${t.token}`, { headers: { upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
    expect(sock.status).toBe(401);

    expect((await hit("DELETE", `/v1/terminals/${t.id}`, { headers: auth(fresh) })).status).toBe(204);
    for (const [method, p, who] of [
      ["GET", `/v1/terminals/${t.id}`, null], ["GET", `/v1/terminals/${t.id}/settings`, fresh], ["DELETE", `/v1/terminals/${t.id}`, fresh],
      ["PUT", `/v1/terminals/${a.id}/contacts/${t.id}`, a.token], ["PUT", `/v1/terminals/${a.id}/blocked/${t.id}`, a.token],
    ] as const) {
      const r = await hit(method, p, { headers: who ? auth(who) : {} });
      expect([401, 404], `${method} ${p}`).toContain(r.status);
    }
    const send = await hit("POST", "/v1/transfers", { headers: jsonHeaders(a), body: JSON.stringify({ to: [t.id], files: [], message: "to the departed" }) });
    expect(send.status).toBe(404);
    expect(send.body.error.details).toEqual({ missing: [t.id] });
  });

  it("refused senders: 403 recipient_refused, the same for blocked and not known, nothing reaches anyone", async () => {
    const picky = await register(server.base, "Picky");
    const blocker = await register(server.base, "Blocker");
    const open = await register(server.base, "Open");
    requests += 3;
    expect((await hit("PATCH", `/v1/terminals/${picky.id}/settings`, { headers: jsonHeaders(picky), body: '{"accept":"known"}' })).status).toBe(200);
    expect((await hit("PUT", `/v1/terminals/${blocker.id}/blocked/${c.id}`, { headers: auth(blocker) })).status).toBe(204);
    const answers: string[] = [];
    for (const target of [picky, blocker]) {
      for (const body of [{ to: [target.id], files: [], message: "hi" }, { to: [open.id, target.id], files: [{ name: "a.txt", size: 3 }] }]) {
        const r = await hit("POST", "/v1/transfers", { headers: jsonHeaders(c), body: JSON.stringify(body) });
        expect(r.status).toBe(403);
        expect(r.body.error.details).toEqual({ refused: [target.id] });
        answers.push(r.body.error.message.replace(target.id, "<id>"));
      }
      const oneShot = await hit("PUT", `/v1/send/${open.id},${target.id}/x.txt`, { headers: { ...auth(c), "content-type": "text/plain" }, body: "abc" });
      expect(oneShot.status).toBe(403);
      answers.push(oneShot.body.error.message.replace(target.id, "<id>"));
    }
    expect(new Set(answers).size).toBe(1);
    for (const t of [picky, blocker, open]) {
      expect((await hit("GET", `/v1/terminals/${t.id}/inbox`, { headers: auth(t) })).body.transfers).toEqual([]);
    }
  });

  it("push endpoints on private, loopback, link-local, IPv6, decimal-IP and look-alike hosts: 400 push_endpoint_not_allowed", async () => {
    const keys = { p256dh: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg", auth: "AAAAAAAAAAAAAAAAAAAAAA" };
    for (const endpoint of REFUSED_ENDPOINTS) {
      const r = await hit("PUT", `/v1/terminals/${a.id}/push-subscription`, { headers: jsonHeaders(a), body: JSON.stringify({ endpoint, keys }) });
      expect(r.status, endpoint).toBe(400);
      expect(["push_endpoint_not_allowed", "invalid_request"], endpoint).toContain(r.body.error.code);
      if (endpoint.startsWith("https://")) expect(r.body.error.code, endpoint).toBe("push_endpoint_not_allowed");
    }
    expect((await hit("GET", `/v1/terminals/${a.id}`)).body.push).toBe(false);
  });

  it("hostile headers on downloads and uploads: 4xx, never a 5xx", async () => {
    const created = await hit("POST", "/v1/transfers", { headers: jsonHeaders(a), body: JSON.stringify({ to: [b.id], files: [{ name: "h.txt", size: 5 }] }) });
    expect(created.status).toBe(201);
    const id = created.body.id;
    // more bytes than the file has, fewer, none
    for (const body of ["hello!", "hell", ""]) {
      expect((await hit("PUT", `/v1/transfers/${id}/files/0`, { headers: auth(a), body })).status).toBeGreaterThanOrEqual(400);
    }
    for (const q of ["?part=0", "?part=-1", "?part=2", "?part=1e3", "?part=99999999999999999999", "?part=%00"]) {
      expect((await hit("PUT", `/v1/transfers/${id}/files/0${q}`, { headers: auth(a), body: "hello" })).status).toBeGreaterThanOrEqual(400);
    }
    expect((await hit("PUT", `/v1/transfers/${id}/files/0`, { headers: auth(b), body: "hello" })).status).toBe(403);
    expect((await hit("PUT", `/v1/transfers/${id}/files/0`, { headers: auth(a), body: "hello" })).status).toBe(200);
    let state = "";
    for (let i = 0; i < 100 && (state = (await hit("GET", `/v1/transfers/${id}`, { headers: auth(a) })).body.status) !== "ready"; i++) await sleep(100);
    expect(state, "the transfer became ready").toBe("ready");
    // src/deliver/range.ts: a malformed or unsatisfiable byte range is a 416 (JSON); several, or another unit, the whole package
    const ranges: Array<[string, number]> = [
      ["bytes=", 416],
      ["bytes=a-b", 416],
      ["bytes=5-1", 416],
      ["bytes=--1", 416],
      ["bytes=0-0,0-0,0-0", 200],
      [`bytes=${"9".repeat(60)}-`, 416],
      ["items=0-1", 200], // an unknown unit is ignored (RFC 9110 §14.2)
      ["bytes=-0", 416],
    ];
    for (const [range, status] of ranges) {
      const r = await hit("GET", `/v1/transfers/${id}/package`, { headers: { ...auth(b), range } });
      expect(r.status, range).toBe(status);
      if (status === 416) expect(r.body.error.code).toBe("range_not_satisfiable");
    }
    for (const q of ["?r=1&exp=1&sig=x", `?r=${b.id}&exp=99999999999&sig=${"A".repeat(43)}`, "?sig=", "?exp=-1", `?r=${b.id}`]) {
      expect((await hit("GET", `/v1/transfers/${id}/package${q}`)).status).toBeGreaterThanOrEqual(400);
    }
  });

  it("more than 200 hostile requests in a row on one terminal's endpoints (no, garbage, foreign, rotated-away and deleted tokens): each a 4xx JSON error, nothing changes", async () => {
    // its own terminals, so that it holds when run alone
    const owner = await register(server.base, "Owner");
    const foreign = await register(server.base, "Foreign");
    const gone = await register(server.base, "Gone");
    const sent = await hit("PUT", `/v1/send/${owner.id}/mine.txt`, { headers: { ...auth(owner), "content-type": "text/plain" }, body: "mine" });
    expect(sent.status).toBe(201);
    const rotated = await hit("POST", `/v1/terminals/${owner.id}/token`, { headers: auth(owner) });
    expect(rotated.status).toBe(200);
    const token = rotated.body.token as string;
    expect((await hit("DELETE", `/v1/terminals/${gone.id}`, { headers: auth(gone) })).status).toBe(204);
    const before = (await hit("GET", `/v1/terminals/${owner.id}/settings`, { headers: auth(token) })).body;
    let count = 0;

    const tid = sent.body.id as string;
    const endpoints: Array<[string, string]> = [
      ["GET", `/v1/terminals/${owner.id}/settings`], ["PATCH", `/v1/terminals/${owner.id}/settings`],
      ["PUT", `/v1/terminals/${owner.id}/contacts/${foreign.id}`], ["DELETE", `/v1/terminals/${owner.id}/contacts/${foreign.id}`],
      ["PUT", `/v1/terminals/${owner.id}/blocked/${foreign.id}`], ["DELETE", `/v1/terminals/${owner.id}/blocked/${foreign.id}`],
      ["POST", `/v1/terminals/${owner.id}/token`], ["DELETE", `/v1/terminals/${owner.id}`],
      ["PUT", `/v1/terminals/${owner.id}/push-subscription`], ["DELETE", `/v1/terminals/${owner.id}/push-subscription`],
      ["GET", `/v1/terminals/${owner.id}/inbox`], ["GET", `/v1/transfers/${tid}`], ["DELETE", `/v1/transfers/${tid}`],
      ["GET", `/v1/transfers/${tid}/package`], ["GET", `/v1/transfers/${tid}/files/0`], ["PUT", `/v1/transfers/${tid}/files/0`],
      // a forged signed link
      ["GET", `/v1/transfers/${tid}/package?r=${owner.id}&exp=99999999999&sig=${"A".repeat(43)}`],
      ["GET", `/v1/transfers/${tid}/files/0?r=${owner.id}&exp=99999999999&sig=${"A".repeat(43)}`],
    ];
    const credentials: Array<[string, Record<string, string>]> = [
      ["none", {}], ["garbage", auth(`pd_${"x".repeat(43)}`)], ["another terminal's", auth(foreign)],
      ["rotated-away", auth(owner)], ["a deleted terminal's", auth(gone)], ["not Bearer", { authorization: `Basic ${token}` }],
    ];
    const bodies: Array<[string, string]> = [
      ["application/json", JSON.stringify({ name: "owned", accept: "known", endpoint: "https://fcm.googleapis.com/fcm/send/x" })],
      ["text/plain", "\u0000{not json"],
    ];
    for (const [method, p] of endpoints) {
      for (const [who, headers] of credentials) {
        for (const [type, body] of bodies) {
          const r = await hit(method, p, { headers: { ...headers, "content-type": type }, body: method === "GET" || method === "DELETE" ? undefined : body });
          count++;
          expect(r.status, `${method} ${p} with ${who} token`).toBeGreaterThanOrEqual(400);
        }
      }
    }
    for (const [, headers] of credentials) {
      const sock = await hit("GET", `/v1/terminals/${owner.id}/socket`, { headers: { ...headers, upgrade: "websocket", connection: "upgrade", "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==" } });
      count++;
      expect(sock.status).toBeGreaterThanOrEqual(400);
    }
    expect(count).toBeGreaterThan(200);
    // nothing changed: the owner's settings, its transfer, its id
    expect((await hit("GET", `/v1/terminals/${owner.id}/settings`, { headers: auth(token) })).body).toEqual(before);
    expect((await hit("GET", `/v1/transfers/${tid}`, { headers: auth(token) })).body.status).not.toBe("cancelled");
    expect((await hit("GET", `/v1/terminals/${owner.id}`, { headers: auth(token) })).body.name).toBe("Owner");
  });
});
