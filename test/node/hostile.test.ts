import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeState, startServer, type Server } from "./support/server.ts";

/**
 * From outside, as a browser and as an attacker would: the headers a browser sees on the web
 * app (served as static assets, not by the Worker) and on the API, under the real `npm start`.
 */

let server: Server;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
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

  it("the API keeps its own headers (the Worker answers /v1 first)", async () => {
    const res = await fetch(`${server.base}/v1/push/vapid-public-key`);
    expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    await res.arrayBuffer();
  });
});
