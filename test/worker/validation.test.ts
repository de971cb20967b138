import { MAX_PACKAGE_BYTES } from "../../src/config";
import { beforeAll, describe, expect, it } from "vitest";
import { dammDigit } from "../../src/auth/ids";
import { api, countRows, createTransfer, json, register, type TestTerminal } from "./helpers";

let alice: TestTerminal;
let bob: TestTerminal;

beforeAll(async () => {
  alice = await register("Alice");
  bob = await register("Bob");
});

const counts = async () => ({
  transfers: await countRows("transfers"),
  files: await countRows("transfer_files"),
  recipients: await countRows("recipients"),
  parts: await countRows("file_parts"),
});

/** An error response in the contract's shape; returns its code. */
async function expectError(res: Response, status: number, code?: string): Promise<{ code: string; message: string; details?: unknown }> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  const body = await json(res);
  expect(Object.keys(body)).toEqual(["error"]);
  expect(typeof body.error.code).toBe("string");
  expect(body.error.code).toMatch(/^[a-z][a-z0-9_]*$/);
  expect(typeof body.error.message).toBe("string");
  expect(body.error.message.length).toBeGreaterThan(0);
  if (code) expect(body.error.code).toBe(code);
  return body.error;
}

/** POSTs a transfer body that must be refused with `status`, and checks nothing was recorded. */
async function refused(body: unknown, status: number, code?: string, init: RequestInit = {}) {
  const before = await counts();
  const res =
    init.body !== undefined || init.headers !== undefined
      ? await api("/v1/transfers", { method: "POST", ...init })
      : await createTransfer(alice, body);
  const err = await expectError(res, status, code);
  expect(await counts()).toEqual(before);
  return err;
}

const file = (size = 10, name = "a.txt") => ({ name, size });
/** a 9-digit id with a correct check digit that nobody registered */
function unregisteredId(): string {
  for (let n = 10_000_000; ; n++) {
    const id = `${n}${dammDigit(String(n))}`;
    if (id !== alice.id && id !== bob.id) return id;
  }
}

describe("POST /v1/transfers refuses bad input with the right 4xx and records nothing", () => {
  it("a valid request is accepted (the baseline the refusals differ from)", async () => {
    const before = await counts();
    const res = await createTransfer(alice, { to: [bob.id], files: [file()], message: "m".repeat(1000), expiresIn: 60 });
    expect(res.status).toBe(201);
    const after = await counts();
    expect(after.transfers).toBe(before.transfers + 1);
    expect(after.files).toBe(before.files + 1);
    expect(after.recipients).toBe(before.recipients + 1);
  });

  it("malformed JSON, non-UTF-8, empty body → 400 invalid_json", async () => {
    const h = { ...alice.auth, "content-type": "application/json" };
    await refused(null, 400, "invalid_json", { headers: h, body: '{"to": [' });
    await refused(null, 400, "invalid_json", { headers: h, body: "" });
    await refused(null, 400, "invalid_json", { headers: h, body: new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) });
  });

  it("JSON that is not an object → 400 invalid_request", async () => {
    const h = { ...alice.auth, "content-type": "application/json" };
    for (const body of ["null", "[]", '"to"', "42", "true"]) await refused(null, 400, "invalid_request", { headers: h, body });
    await refused({ to: bob.id, files: [file()] }, 400, "invalid_request");
    await refused({ to: [bob.id], files: { name: "a", size: 1 } }, 400, "invalid_request");
    await refused({ to: [bob.id], files: [{ size: 1 }] }, 400, "invalid_request");
    await refused({ to: [bob.id], files: [{ name: "", size: 1 }] }, 400, "invalid_request");
    await refused({ to: [bob.id], files: [{ name: "a", size: "1" }] }, 400, "invalid_request");
    await refused({ to: [bob.id], files: [{ name: "a", size: 1, type: "not a type" }] }, 400, "invalid_request");
    await refused({ to: [42], files: [file()] }, 400, "invalid_request");
  });

  it("a wrong Content-Type → 415", async () => {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"]) {
      await refused(null, 415, "unsupported_media_type", {
        headers: { ...alice.auth, "content-type": type },
        body: JSON.stringify({ to: [bob.id], files: [file()] }),
      });
    }
  });

  it("0 or 101 recipients → 400; 100 are accepted", async () => {
    await refused({ to: [], files: [file()] }, 400, "invalid_request");
    // 101 different well-formed ids: refused for their number, before any is looked up
    const ids = Array.from({ length: 101 }, (_, i) => `${20_000_000 + i}${dammDigit(String(20_000_000 + i))}`);
    const err = await refused({ to: ids, files: [file()] }, 400, "invalid_request");
    expect(err.message).toContain("100");
    const hundred = [bob, ...(await Promise.all(Array.from({ length: 99 }, () => register())))];
    const ok = await createTransfer(alice, { to: hundred.map((t) => t.id), files: [file()] });
    expect(ok.status).toBe(201);
    expect((await json(ok)).to).toHaveLength(100);
  });

  it("no files and no message → 400; past the 1000-file limit → 413 naming it; past any limit (10,000) → 400", async () => {
    await refused({ to: [bob.id], files: [] }, 400, "invalid_request");
    const many = (n: number) => ({ to: [bob.id], files: Array.from({ length: n }, (_, i) => file(1, `f${i}`)) });
    const err = await refused(many(1001), 413, "too_many_files");
    expect(err.message).toContain("1000");
    expect(err.details).toMatchObject({ limit: "LIMIT_FILES_PER_TRANSFER", max: 1000 });
    const absurd = await refused(many(10_001), 400, "invalid_request");
    expect(absurd.message).toContain("10000");
  });

  it("message: null is read as no message (responses show an absent message so)", async () => {
    const res = await createTransfer(alice, { to: [bob.id], files: [file()], message: null });
    expect(res.status).toBe(201);
    expect((await json(res)).message).toBeNull();
    await refused({ to: [bob.id], files: [], message: null }, 400, "invalid_request");
  });

  it("negative, fractional, non-finite or absurd sizes → 400", async () => {
    for (const size of [-1, 1.5, 0.1, 1e300, -0.5]) await refused({ to: [bob.id], files: [file(size)] }, 400, "invalid_request");
    const raw = (size: string) => ({
      headers: { ...alice.auth, "content-type": "application/json" },
      body: `{"to":["${bob.id}"],"files":[{"name":"a","size":${size}}]}`,
    });
    await refused(null, 400, "invalid_request", raw("1e400")); // JSON for Infinity
    await refused(null, 400, "invalid_json", raw("NaN")); // not JSON at all
  });

  it("a message over 10,000 characters → 400", async () => {
    const err = await refused({ to: [bob.id], files: [file()], message: "m".repeat(10_001) }, 400, "invalid_request");
    expect(err.message).toContain("message");
    await refused({ to: [bob.id], files: [file()], message: 5 }, 400, "invalid_request");
  });

  it("expiresIn out of bounds → 400", async () => {
    for (const expiresIn of [0, 59, -60, 7 * 24 * 3600 + 1, 1e12, 3600.5]) {
      const err = await refused({ to: [bob.id], files: [file()], expiresIn }, 400, "invalid_request");
      expect(err.message).toContain("expiresIn");
    }
    const ok = await createTransfer(alice, { to: [bob.id], files: [file()], expiresIn: 7 * 24 * 3600 });
    expect(ok.status).toBe(201);
    const t = await json(ok);
    expect(Date.parse(t.expiresAt) - Date.parse(t.createdAt)).toBe(7 * 24 * 3600 * 1000);
  });

  it("maxDownloads must be a positive integer", async () => {
    for (const maxDownloads of [0, -1, 1.5, "3"]) await refused({ to: [bob.id], files: [file()], maxDownloads }, 400, "invalid_request");
  });

  it("an unknown recipient → 404 terminal_not_found, naming it", async () => {
    const ghost = unregisteredId();
    const err = await refused({ to: [bob.id, ghost], files: [file()] }, 404, "terminal_not_found");
    expect(err.message).toContain(ghost);
  });

  it("a mistyped recipient id (bad check digit) → 400 before any lookup", async () => {
    const last = Number(bob.id[8]);
    const typo = bob.id.slice(0, 8) + String((last + 1) % 10);
    const err = await refused({ to: [typo], files: [file()] }, 400, "invalid_request");
    expect(err.message).toMatch(/check digit|not a terminal id/);
    const swapped = bob.id[0] === bob.id[1] ? null : bob.id[1]! + bob.id[0]! + bob.id.slice(2);
    if (swapped) await refused({ to: [swapped], files: [file()] }, 400, "invalid_request");
    await refused({ to: ["12345"], files: [file()] }, 400, "invalid_request");
  });

  it("no token or an invalid token → 401 with WWW-Authenticate", async () => {
    const body = JSON.stringify({ to: [bob.id], files: [file()] });
    const before = await counts();
    for (const headers of <Record<string, string>[]>[
      { "content-type": "application/json" },
      { "content-type": "application/json", authorization: "Bearer pd_" + "A".repeat(43) },
      { "content-type": "application/json", authorization: "Bearer nonsense" },
      { "content-type": "application/json", authorization: "Basic dXNlcjpwYXNz" },
      { "content-type": "application/json", authorization: `Bearer ${alice.token}x` },
    ]) {
      const res = await api("/v1/transfers", { method: "POST", headers, body });
      await expectError(res, 401, "unauthorized");
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
    expect(await counts()).toEqual(before);
  });

  it("a package over MAX_PACKAGE_BYTES (156.25 GiB) → 413 package_too_large; past 4 GiB is fine (ZIP64)", async () => {
    expect(MAX_PACKAGE_BYTES).toBe(10_000 * 16 * 1024 * 1024);
    await refused({ to: [bob.id], files: [file(MAX_PACKAGE_BYTES)] }, 413, "package_too_large");
    await refused({ to: [bob.id], files: [file(MAX_PACKAGE_BYTES / 2, "a"), file(MAX_PACKAGE_BYTES / 2, "b")] }, 413, "package_too_large");
    // over 4 GiB, and just under the limit minus the overhead, are fine
    for (const size of [2 ** 32, 4.5 * 2 ** 30, MAX_PACKAGE_BYTES - 1_000_000]) {
      const ok = await createTransfer(alice, { to: [bob.id], files: [file(size)] });
      expect(ok.status, String(size)).toBe(201);
    }
  });

  it("a JSON body over 4 MiB → 413", async () => {
    const big = JSON.stringify({ to: [bob.id], files: [file()], message: "x".repeat(5 * 1024 * 1024) });
    await refused(null, 413, "body_too_large", { headers: { ...alice.auth, "content-type": "application/json" }, body: big });
  });
});

describe("JSON responses say application/json; charset=utf-8, as the contract does", () => {
  it("on success: a new terminal, a terminal, the VAPID key, a transfer, an inbox", async () => {
    const created = await createTransfer(alice, { to: [bob.id], files: [{ name: "a.txt", size: 1 }] });
    const t = await json(created);
    for (const res of [
      created,
      await api("/v1/terminals", { method: "POST" }),
      await api(`/v1/terminals/${bob.id}`),
      await api("/v1/push/vapid-public-key"),
      await api(`/v1/transfers/${t.id}`, { headers: alice.auth }),
      await api(`/v1/terminals/${bob.id}/inbox`, { headers: bob.auth }),
    ]) {
      expect(res.status).toBeLessThan(300);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    }
  });
});

describe("routing errors are JSON too", () => {
  it("unknown paths → 404 JSON", async () => {
    for (const path of ["/v1/nope", "/v1", "/v1/transfers/x/y/z", "/nothing-here", "/v1/terminals/123/unknown"]) {
      await expectError(await api(path), 404, "not_found");
    }
  });

  it("a wrong method → 405 JSON with Allow", async () => {
    const cases: Array<[string, string, string]> = [
      ["PATCH", "/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA", "GET, DELETE"],
      ["DELETE", "/v1/terminals", "POST"],
      ["GET", "/v1/transfers", "POST"],
      ["POST", "/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA/package", "GET"],
      ["POST", `/v1/send/123/x.txt`, "PUT"],
      ["PUT", "/v1/push/vapid-public-key", "GET"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await api(path, { method });
      await expectError(res, 405, "method_not_allowed");
      expect(res.headers.get("allow")).toBe(allow);
    }
  });

  it("GET /v1/terminals/{unknown} → 404 terminal_not_found", async () => {
    await expectError(await api(`/v1/terminals/${unregisteredId()}`), 404, "terminal_not_found");
    await expectError(await api("/v1/terminals/not-an-id"), 404, "terminal_not_found");
    await expectError(await api(`/v1/terminals/${"9".repeat(200)}`), 404, "terminal_not_found");
  });

  it("unknown or malformed transfer ids → 404, before or after auth as documented", async () => {
    await expectError(await api("/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA", { headers: alice.auth }), 404, "transfer_not_found");
    await expectError(await api("/v1/transfers/..%2F..%2Fetc", { headers: alice.auth }), 404);
    await expectError(await api("/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA/files/0", { method: "PUT", headers: alice.auth, body: "x" }), 404);
  });

  it("no request yields a 5xx (a few odd ones)", async () => {
    const odd: Array<[string, RequestInit]> = [
      ["/v1/terminals", { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": 12}' }],
      ["/v1/terminals", { method: "POST", headers: { "content-type": "application/json" }, body: '{"name": "' + "n".repeat(65) + '"}' }],
      ["/v1/terminals/%E0%A4%A", {}],
      ["/v1/transfers/%00", { headers: alice.auth }],
      ["/v1/transfers", { method: "POST", headers: { ...alice.auth, "content-type": "application/json", "content-length": "99999999999" }, body: "{}" }],
      [`/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA/files/${"9".repeat(30)}`, { headers: alice.auth }],
      ["/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA/package", { headers: { ...alice.auth, range: "bytes=" + "9".repeat(40) + "-" } }],
    ];
    for (const [path, init] of odd) {
      const res = await api(path, init);
      expect(res.status, `${init.method ?? "GET"} ${path}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `${init.method ?? "GET"} ${path}`).toBeLessThan(500);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    }
  });
});

describe("paths", () => {
  it("a trailing slash is the same path: POST /v1/terminals/ and POST /v1/transfers/ work", async () => {
    const res = await api("/v1/terminals/", { method: "POST" });
    expect(res.status).toBe(201);
    const t = await json(res);
    const created = await api("/v1/transfers/", {
      method: "POST",
      headers: { authorization: `Bearer ${t.token}`, "content-type": "application/json" },
      body: JSON.stringify({ to: [t.id], files: [{ name: "a.txt", size: 1 }] }),
    });
    expect(created.status).toBe(201);
    expect((await api(`/v1/terminals/${t.id}/`)).status).toBe(200);
  });

  it("/v1 itself and unknown versions answer JSON 404", async () => {
    for (const path of ["/v1", "/v1/", "/v1/nope", "/v2/transfers", "/v0/terminals"]) {
      const res = await api(path);
      expect(res.status).toBe(404);
      expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
      expect((await json(res)).error.code).toBe("not_found");
    }
  });
});

describe("size of a transfer's description", () => {
  it("file names adding up to more than 128 KiB → 413 names_too_long, nothing recorded", async () => {
    const t = await register("long-names");
    const before = await countRows("transfers");
    const files = Array.from({ length: 600 }, (_, i) => ({ name: `${i}-${"n".repeat(240)}.txt`, size: 1 }));
    const res = await createTransfer(t, { to: [t.id], files });
    expect(res.status).toBe(413);
    expect((await json(res)).error.code).toBe("names_too_long");
    expect(await countRows("transfers")).toBe(before);
    // 1000 files with ordinary names are fine
    const ok = await createTransfer(t, { to: [t.id], files: Array.from({ length: 1000 }, (_, i) => ({ name: `photos/IMG_${i}.jpg`, size: 1 })) });
    expect(ok.status).toBe(201);
  });
});
