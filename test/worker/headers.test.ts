import { describe, expect, it } from "vitest";
import { api, register, sendFiles } from "./helpers";

/** CORS for browser clients of the API (no credentials), and the API's own security headers. */

describe("CORS", () => {
  it("a preflight from any origin may use every method and the headers the API reads; never credentials", async () => {
    for (const method of ["PATCH", "DELETE", "PUT", "POST"]) {
      const res = await api("/v1/terminals/123456784/settings", {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": method, "access-control-request-headers": "authorization, content-type" },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("*");
      expect(res.headers.get("access-control-allow-methods")).toContain(method);
      expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("authorization");
      expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    }
  });

  it("answers carry Allow-Origin * and expose Retry-After, Content-Range, ETag", async () => {
    const res = await api("/v1/push/vapid-public-key", { headers: { origin: "https://app.example" } });
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    const exposed = res.headers.get("access-control-expose-headers")!.toLowerCase();
    for (const h of ["retry-after", "content-range", "etag", "content-disposition"]) expect(exposed).toContain(h);
  });
});

describe("API security headers", () => {
  it("JSON answers and errors: nosniff, no-referrer, a CSP that runs and frames nothing", async () => {
    const t = await register();
    for (const res of [await api(`/v1/terminals/${t.id}`), await api("/v1/transfers/nope", { headers: t.auth }), await api("/v1/nowhere")]) {
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("referrer-policy")).toBe("no-referrer");
      expect(res.headers.get("content-security-policy")).toBe("default-src 'none'; frame-ancestors 'none'");
      await res.body?.cancel();
    }
  });

  it("downloads keep their own sandboxed policy", async () => {
    const a = await register();
    const b = await register();
    const t = await sendFiles(a, [b], [{ name: "x.html", data: new TextEncoder().encode("<script>alert(1)</script>") }]);
    for (const path of [`/v1/transfers/${t.id}/package`, `/v1/transfers/${t.id}/files/0`]) {
      const res = await api(path, { headers: a.auth });
      expect(res.status).toBe(200);
      expect(res.headers.get("content-security-policy")).toBe("sandbox; default-src 'none'");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await res.arrayBuffer();
    }
  });
});
