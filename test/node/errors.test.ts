import { describe, expect, it } from "vitest";
import { ApiError, NetworkError, isTransient, retryDelayMs } from "../../client";

/** client/errors.ts: the one decision uploads, CLI downloads and the web app's sends make after a failure. */
describe("isTransient / retryDelayMs", () => {
  const api = (status: number, code: string, retryAfter?: number) => new ApiError(status, code, "…", undefined, retryAfter);

  it("tries again after a broken connection, a rate limit, a server fault or an upload conflict; never after a refusal", () => {
    expect(isTransient(new NetworkError("fetch failed"))).toBe(true);
    expect(isTransient(api(429, "rate_limited", 3))).toBe(true);
    expect(isTransient(api(503, "internal_error"))).toBe(true);
    expect(isTransient(api(409, "upload_conflict"))).toBe(true);
    for (const [status, code] of [
      [400, "bad_request"],
      [401, "unauthorized"],
      [409, "not_ready"],
      [410, "transfer_expired"],
      [413, "body_too_large"],
    ] as const) expect(isTransient(api(status, code)), code).toBe(false);
    expect(isTransient(new Error("a bug"))).toBe(false);
  });

  it("waits what Retry-After said, else the caller's backoff", () => {
    expect(retryDelayMs(api(429, "rate_limited", 7), 1000)).toBe(7000);
    expect(retryDelayMs(api(503, "internal_error", 0), 1000)).toBe(0);
    expect(retryDelayMs(api(503, "internal_error"), 1000)).toBe(1000);
    expect(retryDelayMs(new NetworkError("reset"), 2500)).toBe(2500);
  });
});
