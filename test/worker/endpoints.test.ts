import { runDurableObjectAlarm } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { checkPushEndpoint, parseAllowedHosts } from "../../src/notify/endpoints";
import { REFUSED_ENDPOINTS as REFUSED } from "../node/support/endpoints";
import { api, json, register, terminalStub } from "./helpers";

/**
 * Push endpoints go only to browser push services and to hosts the operator lists
 * (PUSH_ENDPOINT_HOSTS): never to an address a client chose.
 */

const KEYS = { p256dh: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg", auth: "AAAAAAAAAAAAAAAAAAAAAA" };

const ALLOWED = [
  "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b",
  "https://FCM.GoogleAPIs.com/fcm/send/x",
  "https://fcm.googleapis.com:443/fcm/send/x",
  "https://android.googleapis.com/gcm/send/x",
  "https://updates.push.services.mozilla.com/wpush/v2/gAAAAAB",
  "https://web.push.apple.com/QGcHGrbh",
  "https://wns2-par02p.notify.windows.com/w/?token=BQYAAA",
  "https://db5p.notify.windows.com/w/?token=x",
];

describe("checkPushEndpoint (pure)", () => {
  it("takes the browsers' push services", () => {
    for (const e of ALLOWED) expect(checkPushEndpoint(e, []), e).toEqual({ ok: true });
  });

  it("refuses loopback, private, link-local, IPv6, decimal/octal/hex IPs, look-alikes, userinfo, ports", () => {
    for (const e of REFUSED) expect(checkPushEndpoint(e, []).ok, e).toBe(false);
  });

  it("PUSH_ENDPOINT_HOSTS adds hosts: a bare host on any port, host:port on that port only", () => {
    const allowed = parseAllowedHosts(" push.example.org, 127.0.0.1:8443 ,[::1] ,bad/entry, user@x.org");
    expect(allowed).toEqual([
      { hostname: "push.example.org", port: null },
      { hostname: "127.0.0.1", port: "8443" },
      { hostname: "[::1]", port: null },
    ]);
    expect(checkPushEndpoint("https://push.example.org/p", allowed).ok).toBe(true);
    expect(checkPushEndpoint("https://push.example.org:9000/p", allowed).ok).toBe(true);
    expect(checkPushEndpoint("https://127.0.0.1:8443/p", allowed).ok).toBe(true);
    expect(checkPushEndpoint("https://[::1]:1234/p", allowed).ok).toBe(true);
    // the same address spelled another way is the same address
    expect(checkPushEndpoint("https://2130706433:8443/p", allowed).ok).toBe(true);
    // …but not another port, another loopback, a subdomain, http, or credentials
    expect(checkPushEndpoint("https://127.0.0.1/p", allowed).ok).toBe(false);
    expect(checkPushEndpoint("https://127.0.0.2:8443/p", allowed).ok).toBe(false);
    expect(checkPushEndpoint("https://a.push.example.org/p", allowed).ok).toBe(false);
    expect(checkPushEndpoint("http://push.example.org/p", allowed).ok).toBe(false);
    expect(checkPushEndpoint("https://u:p@push.example.org/p", allowed).ok).toBe(false);
    expect(parseAllowedHosts("")).toEqual([]);
    expect(parseAllowedHosts(undefined)).toEqual([]);
  });
});

describe("PUT /v1/terminals/{id}/push-subscription checks the endpoint", () => {
  it("400 push_endpoint_not_allowed for every refused endpoint, storing nothing", async () => {
    const t = await register("Pushy");
    // the worker tests list 127.0.0.1:9 (the stubbed push service): other ports stay refused
    for (const endpoint of [...REFUSED.filter((e) => e.startsWith("https://")), "https://127.0.0.1:8080/push"]) {
      const res = await api(`/v1/terminals/${t.id}/push-subscription`, {
        method: "PUT",
        headers: { ...t.auth, "content-type": "application/json" },
        body: JSON.stringify({ endpoint, keys: KEYS }),
      });
      expect(res.status, endpoint).toBe(400);
      expect((await json(res)).error.code, endpoint).toBe("push_endpoint_not_allowed");
    }
    expect(await terminalStub(t.id).subscriptionCount()).toBe(0);
    const ok = await api(`/v1/terminals/${t.id}/push-subscription`, {
      method: "PUT",
      headers: { ...t.auth, "content-type": "application/json" },
      body: JSON.stringify({ endpoint: ALLOWED[0], keys: KEYS }),
    });
    expect(ok.status).toBe(204);
    expect(await terminalStub(t.id).subscriptionCount()).toBe(1);
  });
});

describe("the Terminal object never pushes to an endpoint the rule refuses", () => {
  afterEach(() => vi.restoreAllMocks());

  it("a subscription stored before the rule is dropped at its first push, with no request made", async () => {
    const calls: string[] = [];
    const real = globalThis.fetch;
    vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
      const url = new Request(input, init).url;
      if (url.includes("169.254")) {
        calls.push(url);
        return new Response(null, { status: 201 });
      }
      return real(input, init);
    });
    const t = await register("Old");
    const stub = terminalStub(t.id);
    await stub.putSubscription(t.id, { endpoint: "https://169.254.169.254/latest", keys: KEYS });
    await stub.enqueue(t.id, { type: "transfer.expired", id: "x1", transferId: "T".repeat(22) }, { transferId: null, expiresAt: null });
    await runDurableObjectAlarm(stub);
    expect(calls).toEqual([]);
    expect(await stub.subscriptionCount()).toBe(0);
    expect((await stub.pushLog())[0]).toMatchObject({ state: "gone" });
  });
});
