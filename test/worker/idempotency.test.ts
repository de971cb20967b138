import { describe, expect, it } from "vitest";
import { IDEMPOTENCY_MS } from "../../src/config";
import { sweep } from "../../src/expire";
import { createTransferOnce } from "../../src/receive/idempotency";
import { getTerminal } from "../../src/store/terminals";
import { api, countRows, env, json, register, type TestTerminal } from "./helpers";

/**
 * v1.2: `Idempotency-Key` on `POST /v1/transfers`. The web app sends the request again after
 * being offline; the same sender and key within 24 hours get the transfer the first request
 * created (201, then 200 with the same body), never a second one.
 */

const create = (who: TestTerminal, body: unknown, key?: string, raw?: string) =>
  api("/v1/transfers", {
    method: "POST",
    headers: { ...who.auth, "content-type": "application/json", ...(key === undefined ? {} : { "idempotency-key": key }) },
    body: raw ?? JSON.stringify(body),
  });

const sentBy = (who: TestTerminal) => countRows("transfers", "sender_id = ?", who.id);

describe("POST /v1/transfers with an Idempotency-Key", () => {
  it("the same request again: 200 with the same body and the same transfer, not a second one", async () => {
    const a = await register("ik-a");
    const b = await register("ik-b");
    const body = { to: [b.id], files: [{ name: "x.bin", size: 10 }], message: "hello" };
    const first = await create(a, body, "retry-1_A");
    expect(first.status).toBe(201);
    const t = await json(first);
    const again = await create(a, body, "retry-1_A");
    expect(again.status).toBe(200);
    expect(again.headers.get("location")).toBe(`/v1/transfers/${t.id}`);
    expect(await json(again)).toEqual(t);
    // spacing and field order are not the request: still the same one
    const reordered = `{ "message": "hello",  "files": [{"size": 10, "name": "x.bin"}], "to": ["${b.id}"] }`;
    const third = await create(a, null, "retry-1_A", reordered);
    expect(third.status).toBe(200);
    expect((await json(third)).id).toBe(t.id);
    expect(await sentBy(a)).toBe(1);
    // without a key, each request is a transfer of its own (as before)
    expect((await create(a, body)).status).toBe(201);
    expect((await create(a, body)).status).toBe(201);
    expect(await sentBy(a)).toBe(3);
  });

  it("the answer is the transfer as it is now (a retry after an upload sees its parts)", async () => {
    const a = await register();
    const b = await register();
    const body = { to: [b.id], files: [{ name: "x.bin", size: 4 }] };
    const t = await json(await create(a, body, "k"));
    const put = await api(`/v1/transfers/${t.id}/files/0`, { method: "PUT", headers: a.auth, body: new Uint8Array([1, 2, 3, 4]) });
    expect(put.status).toBe(200);
    const again = await create(a, body, "k");
    expect(again.status).toBe(200);
    const now = await json(again);
    expect(now.id).toBe(t.id);
    expect(now.files[0].received).toBe(4);
  });

  it("the same key with another request: 422 idempotency_key_reused, and nothing is created", async () => {
    const a = await register();
    const b = await register();
    expect((await create(a, { to: [b.id], files: [], message: "one" }, "same")).status).toBe(201);
    const res = await create(a, { to: [b.id], files: [], message: "two" }, "same");
    expect(res.status).toBe(422);
    expect((await json(res)).error.code).toBe("idempotency_key_reused");
    expect(await sentBy(a)).toBe(1);
  });

  it("a key is the sender's own: another sender's same key creates its own transfer", async () => {
    const [a, c, b] = [await register(), await register(), await register()];
    const body = { to: [b.id], files: [], message: "hi" };
    const ta = await json(await create(a, body, "shared"));
    const res = await create(c, body, "shared");
    expect(res.status).toBe(201);
    expect((await json(res)).id).not.toBe(ta.id);
  });

  it("a malformed key is 400 invalid_request and creates nothing", async () => {
    const a = await register();
    const b = await register();
    for (const key of ["", "x".repeat(65), "has space", "dot.ted", "a/b"]) {
      const res = await create(a, { to: [b.id], files: [], message: "m" }, key);
      expect(res.status, JSON.stringify(key)).toBe(400);
      const { error } = await json(res);
      expect(error.code).toBe("invalid_request");
      // docs/api.md: the issue names the header
      expect(error.details.issues.map((i: any) => i.path)).toEqual(["Idempotency-Key"]);
      expect(error.message).toBe("Idempotency-Key: 1 to 64 characters A-Z a-z 0-9 _ -");
    }
    expect((await create(a, { to: [b.id], files: [], message: "m" }, "x".repeat(64))).status).toBe(201);
    expect(await sentBy(a)).toBe(1);
  });

  it("two requests with one key at once create one transfer (201 and 200, the same id)", async () => {
    const a = await register();
    const b = await register();
    const body = { to: [b.id], files: [{ name: "a", size: 1 }, { name: "b", size: 2 }] };
    const answers = await Promise.all([create(a, body, "race"), create(a, body, "race"), create(a, body, "race")]);
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 201]);
    const ids = new Set(await Promise.all(answers.map(async (r) => (await json(r)).id)));
    expect(ids.size).toBe(1);
    expect(await sentBy(a)).toBe(1);
  });

  it("a request whose look-up came before another's commit, and whose checks then count that transfer (the sender's hourly rate): the other's transfer, not 429", async () => {
    const a = await register();
    const b = await register();
    const req = { to: [b.id], files: [{ name: "r.bin", size: 3 }] };
    const first = await json(await create(a, req, "edge"));
    // the second request, as if its look-up of the key ran just before the first committed (it
    // finds nothing), under a rate of one transfer an hour, which the first has used
    let missed = false;
    const db = new Proxy(env.DB, {
      get(target, prop) {
        if (prop !== "prepare") return Reflect.get(target, prop, target);
        return (sql: string) => {
          if (!missed && sql.startsWith("SELECT transfer_id, request_hash FROM idempotency_keys")) {
            missed = true;
            return { bind: () => ({ first: async () => null }) };
          }
          return target.prepare(sql);
        };
      },
    });
    const late = { ...env, DB: db, LIMIT_TRANSFERS_PER_SENDER_HOUR: "1" } as unknown as Env;
    const sender = (await getTerminal(env.DB, a.id))!;
    const { rec, created } = await createTransferOnce(late, sender, req, "edge", Date.now());
    expect(missed).toBe(true);
    expect(created).toBe(false);
    expect(rec.transfer.id).toBe(first.id);
    expect(await sentBy(a)).toBe(1);
  });

  it("after 24 hours the key is free again (a new transfer), and the sweep forgets it", async () => {
    const a = await register();
    const b = await register();
    const body = { to: [b.id], files: [], message: "later" };
    const first = await json(await create(a, body, "day"));
    const old = Date.now() - IDEMPOTENCY_MS - 1000;
    await env.DB.prepare("UPDATE idempotency_keys SET created_at = ? WHERE sender_id = ?").bind(old, a.id).run();
    const next = await create(a, body, "day");
    expect(next.status).toBe(201);
    expect((await json(next)).id).not.toBe(first.id);
    // (that request took the key again: make it old once more, and sweep)
    await env.DB.prepare("UPDATE idempotency_keys SET created_at = ? WHERE sender_id = ?").bind(old, a.id).run();
    await sweep(env);
    expect(await countRows("idempotency_keys", "sender_id = ?", a.id)).toBe(0);
  });

  it("a browser may send it: CORS preflight allows the header", async () => {
    const res = await api("/v1/transfers", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type, idempotency-key" },
    });
    expect(res.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("idempotency-key");
  });
});
