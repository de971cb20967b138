import { createExecutionContext, createMessageBatch, getQueueResult, runInDurableObject, waitOnExecutionContext } from "cloudflare:test";
import worker from "../../src/index";
import type { Job } from "../../src/package/jobs";
import { KEY_PAGE, notifyKeyChanged } from "../../src/notify/producers";
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
import { describe, expect, it } from "vitest";
import { agreesWith, isAgeX25519Recipient } from "../../src/auth/key";
import { LOW_ORDER } from "../node/support/low-order";
import type { Terminal } from "../../src/notify/terminal";
import {
  api,
  countRows,
  createTransfer,
  env,
  eventually,
  getTransfer,
  json,
  openSocket,
  outboxOf,
  register,
  sendFiles,
  terminalStub,
  type TestTerminal,
} from "./helpers";

/**
 * Contract v1.2, sealed transfers (issue 23): a terminal's published age key, the
 * `terminal.key_changed` message, and what the server enforces of a transfer marked sealed.
 */

const newRecipient = async () => identityToRecipient(await generateX25519Identity());

const putKey = (t: TestTerminal, body: unknown, auth: Record<string, string> = t.auth) =>
  api(`/v1/terminals/${t.id}/key`, {
    method: "PUT",
    headers: { ...auth, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

const info = async (t: TestTerminal) => json(await api(`/v1/terminals/${t.id}`));

const keyMessages = async (t: TestTerminal) => (await outboxOf(t.id)).filter((m) => m.type === "terminal.key_changed");
/** The key announcements a terminal has not acknowledged (nor had superseded), their bodies. */
const pendingKeys = async (t: TestTerminal) => (await keyMessages(t)).filter((m) => m.acked_at === null).map((m) => m.body);

describe("the recipient check", () => {
  it("accepts age X25519 recipients only: not post-quantum ones, a wrong checksum, upper case or another length", async () => {
    const r = await newRecipient();
    expect(isAgeX25519Recipient(r)).toBe(true);
    const pq = await identityToRecipient(await generateHybridIdentity());
    const flipped = r.slice(0, -1) + (r.endsWith("q") ? "p" : "q");
    for (const bad of [pq, flipped, r.toUpperCase(), r.slice(0, -1), `${r}q`, "age1", ""]) expect(isAgeX25519Recipient(bad), bad).toBe(false);
  });

  it("a low-order X25519 point has the recipient's shape but agrees on no secret (WebCrypto in workerd refuses it); a real key does", async () => {
    expect(await agreesWith(await newRecipient())).toBe(true);
    for (const k of LOW_ORDER) {
      expect(isAgeX25519Recipient(k), k).toBe(true);
      expect(await agreesWith(k), k).toBe(false);
    }
  });
});

describe("PUT /v1/terminals/{id}/key", () => {
  it("publishes the key: the answer and GET /v1/terminals/{id} show it; a terminal without one shows null", async () => {
    const anna = await register("Anna");
    expect(await info(anna)).toEqual({ id: anna.id, name: "Anna", push: false, key: null });
    const key = await newRecipient();
    const res = await putKey(anna, { key });
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(await json(res)).toEqual({ id: anna.id, name: "Anna", push: false, key });
    expect(await info(anna)).toEqual({ id: anna.id, name: "Anna", push: false, key });
  });

  it("400 for a malformed or non-X25519 key, 401/403 without the terminal's own token; none changes the key", async () => {
    const anna = await register("Anna");
    const other = await register("Other");
    const key = await newRecipient();
    expect((await putKey(anna, { key })).status).toBe(200);
    const good = await newRecipient();
    const pq = await identityToRecipient(await generateHybridIdentity());
    for (const body of [
      { key: pq },
      { key: good.slice(0, -1) + (good.endsWith("q") ? "p" : "q") },
      { key: good.toUpperCase() },
      { key: `${good} ` },
      { key: "AGE-SECRET-KEY-1" + good.slice(4).toUpperCase() },
      { key: null },
      { key: 42 },
      {},
      { key: good, extra: 1 },
      "not json",
      ...LOW_ORDER.map((k) => ({ key: k })),
    ]) {
      const res = await putKey(anna, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).error.code).toMatch(/^invalid_(request|json)$/);
    }
    expect((await putKey(anna, { key: good }, other.auth)).status).toBe(403);
    expect((await putKey(anna, { key: good }, {})).status).toBe(401);
    expect((await info(anna)).key).toBe(key);
    await eventually(async () => ((await keyMessages(anna)).length === 1 ? true : undefined), 5_000, "the announcement");
    expect(await keyMessages(anna)).toHaveLength(1); // the first publication only
  });

  it("announces a new key with terminal.key_changed to the terminal itself and to each terminal that has it as a contact, once per key", async () => {
    const bob = await register("Bob");
    const anna = await register("Anna"); // has Bob as a contact (added)
    const carl = await register("Carl"); // has Bob as a contact (sent to him)
    const dora = await register("Dora"); // does not know Bob
    expect((await api(`/v1/terminals/${anna.id}/contacts/${bob.id}`, { method: "PUT", headers: anna.auth })).status).toBe(204);
    expect((await createTransfer(carl, { to: [bob.id], files: [], message: "hi" })).status).toBe(201);

    const k1 = await newRecipient();
    expect((await putKey(bob, { key: k1 })).status).toBe(200);
    const first = { type: "terminal.key_changed", id: `${bob.id}.key.1`, terminal: { id: bob.id, name: "Bob", key: k1 } };
    const told = async (body: unknown) => {
      for (const t of [bob, anna, carl]) if (JSON.stringify(await pendingKeys(t)) !== JSON.stringify([body])) return undefined;
      return true;
    };
    await eventually(() => told(first), 5_000, "key 1 announced");
    for (const t of [bob, anna, carl]) expect(await pendingKeys(t), t.name).toEqual([first]);
    expect(await keyMessages(dora)).toEqual([]);

    // the same key again: nothing changes, nobody is told
    expect((await putKey(bob, { key: k1 })).status).toBe(200);
    expect(await keyMessages(anna)).toHaveLength(1);

    // a newer key supersedes the announcement nobody acknowledged: one pending per terminal, the newest
    const k2 = await newRecipient();
    expect((await putKey(bob, { key: k2 })).status).toBe(200);
    const second = { ...first, id: `${bob.id}.key.2`, terminal: { ...first.terminal, key: k2 } };
    await eventually(() => told(second), 5_000, "key 2 announced");
    for (const t of [bob, anna, carl]) {
      expect(await pendingKeys(t), t.name).toEqual([second]);
      expect((await keyMessages(t)).map((m) => [m.id, m.acked_at !== null]), t.name).toEqual([[first.id, true], [second.id, false]]);
    }
    expect(await keyMessages(dora)).toEqual([]);
  });

  it("the PUT only queues one job, whatever the number of contacts; the queue consumer tells them, and a job for a key replaced since tells nobody", async () => {
    const bob = await register("Bob");
    const holders = [await register("H1"), await register("H2"), await register("H3")];
    for (const h of holders) expect((await api(`/v1/terminals/${h.id}/contacts/${bob.id}`, { method: "PUT", headers: h.auth })).status).toBe(204);
    // the request, with the jobs queue's producer recording what it is given
    const jobs: Job[] = [];
    const put = async (key: string) => {
      const { app } = await import("../../src/app");
      const ctx = createExecutionContext();
      const recording = { ...env, JOBS: { send: async (job: Job) => void jobs.push(job), sendBatch: async () => {} } } as unknown as Env;
      const req = new Request(`https://pushdrop.test/v1/terminals/${bob.id}/key`, { method: "PUT", headers: { ...bob.auth, "content-type": "application/json" }, body: JSON.stringify({ key }) });
      const res = await app.fetch(req, recording, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };
    expect((await put(await newRecipient())).status).toBe(200);
    expect(jobs).toEqual([{ kind: "key_changed", terminalId: bob.id, gen: 1 }]);
    // the request told nobody itself
    for (const t of [bob, ...holders]) expect(await keyMessages(t), t.name).toEqual([]);
    const k2 = await newRecipient();
    expect((await put(k2)).status).toBe(200);
    expect(jobs[1]).toEqual({ kind: "key_changed", terminalId: bob.id, gen: 2 });

    // the consumer: the job of generation 1 arrives late, after the key changed again: it tells nobody
    const run = async (job: Job) => {
      const batch = createMessageBatch<Job>("pushdrop-jobs", [{ id: `k-${Math.random()}`, timestamp: new Date(), attempts: 1, body: job }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env);
      return getQueueResult(batch, ctx);
    };
    expect((await run(jobs[0]!)).explicitAcks).toHaveLength(1);
    for (const t of [bob, ...holders]) expect(await keyMessages(t), t.name).toEqual([]);
    // generation 2's job tells bob and each holder, with the current key
    expect((await run(jobs[1]!)).explicitAcks).toHaveLength(1);
    for (const t of [bob, ...holders]) {
      expect((await pendingKeys(t)).map((m: any) => [m.id, m.terminal.key]), t.name).toEqual([[`${bob.id}.key.2`, k2]]);
    }
    // redelivered: queues nothing twice; and the late generation 1 can no longer be queued after it
    await run(jobs[1]!);
    const anna = holders[0]!;
    expect(await terminalStub(anna.id).enqueue(anna.id, { type: "terminal.key_changed", id: `${bob.id}.key.1`, terminal: { id: bob.id, name: "Bob", key: null } }, { transferId: null, expiresAt: null })).toMatchObject({ queued: false });
    for (const t of [bob, ...holders]) expect(await keyMessages(t), t.name).toHaveLength(1);
  });

  it("a terminal many hold as a contact is announced a page at a time (KEY_PAGE holders per queue message, the next page queued)", async () => {
    const bob = await register("Bob");
    const k = await newRecipient();
    const now = Date.now();
    const base = 800_000_000 + Math.floor(Math.random() * 100_000_000);
    const ids = Array.from({ length: KEY_PAGE + 1 }, (_, i) => String(base + i * 3)).sort();
    await env.DB.batch([
      env.DB.prepare("UPDATE terminals SET age_key = ?, age_key_gen = 1 WHERE id = ?").bind(k, bob.id),
      ...ids.flatMap((id) => [
        env.DB.prepare("INSERT INTO terminals (id, name, token_hash, created_at) VALUES (?, ?, ?, ?)").bind(id, `h${id}`, `hash-${id}-${now}`, now),
        env.DB.prepare("INSERT INTO contacts (terminal_id, other_id, added_at) VALUES (?, ?, ?)").bind(id, bob.id, now),
      ]),
    ]);
    const jobs: Job[] = [];
    const recording = { ...env, JOBS: { send: async (job: Job) => void jobs.push(job), sendBatch: async () => {} } } as unknown as Env;
    const told = async (id: string) => (await outboxOf(id)).some((m) => m.id === `${bob.id}.key.1`);
    await notifyKeyChanged(recording, bob.id, 1);
    expect(jobs).toEqual([{ kind: "key_changed", terminalId: bob.id, gen: 1, after: ids[KEY_PAGE - 1] }]);
    expect(await told(bob.id)).toBe(true);
    for (const id of ids.slice(0, KEY_PAGE)) expect(await told(id), id).toBe(true);
    expect(await told(ids[KEY_PAGE]!)).toBe(false);
    await notifyKeyChanged(recording, bob.id, 1, ids[KEY_PAGE - 1]);
    expect(await told(ids[KEY_PAGE]!)).toBe(true);
    expect(jobs).toHaveLength(1); // the last page was not full: nothing more queued
  });

  it("reaches a live socket and is acknowledged like any message; it is never pushed, not even when the socket goes unacknowledged", async () => {
    const bob = await register("Bob");
    const anna = await register("Anna");
    await api(`/v1/terminals/${anna.id}/contacts/${bob.id}`, { method: "PUT", headers: anna.auth });
    const stub = terminalStub(anna.id);
    const pair = (await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"])) as CryptoKeyPair;
    const raw = new Uint8Array((await crypto.subtle.exportKey("raw", pair.publicKey)) as ArrayBuffer);
    const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    await stub.putSubscription(anna.id, {
      endpoint: `https://127.0.0.1:9/push/key-${anna.id}`,
      expirationTime: null,
      keys: { p256dh: b64(raw), auth: b64(crypto.getRandomValues(new Uint8Array(16))) },
    });

    // no socket: queued, not pushed
    expect((await putKey(bob, { key: await newRecipient() })).status).toBe(200);
    expect(await stub.pushLog()).toEqual([]);

    // a socket gets it on connect (replay) and acks it
    const sock = await openSocket(anna);
    const [frame] = await sock.take(1);
    expect(frame).toMatchObject({ type: "terminal.key_changed", id: `${bob.id}.key.1` });
    sock.ws.send(JSON.stringify({ type: "ack", id: frame.id }));
    await eventually(async () => ((await stub.pendingCount()) === 0 ? true : undefined), 5_000, "the ack");

    // a live one, left unacknowledged when the socket closes: still no push
    expect((await putKey(bob, { key: await newRecipient() })).status).toBe(200);
    const [live] = await sock.take(1);
    expect(live.id).toBe(`${bob.id}.key.2`);
    sock.ws.close(1000, "bye");
    await eventually(
      async () => ((await runInDurableObject(stub, (_: Terminal, state) => state.getWebSockets().length)) === 0 ? true : undefined),
      5_000,
      "the close handled",
    );
    expect(await stub.pendingCount()).toBe(1);
    expect(await stub.pushLog()).toEqual([]);
  });

  it("a deleted terminal's key is gone with it", async () => {
    const anna = await register("Anna");
    await putKey(anna, { key: await newRecipient() });
    expect((await api(`/v1/terminals/${anna.id}`, { method: "DELETE", headers: anna.auth })).status).toBe(204);
    const row = await env.DB.prepare("SELECT age_key FROM terminals WHERE id = ?").bind(anna.id).first<{ age_key: string | null }>();
    expect(row!.age_key).toBeNull();
  });
});

describe("POST /v1/transfers with sealed: true", () => {
  const ageFile = (name: string, size = 300) => ({ name, size });

  it("is recorded as sealed (Transfer.sealed; false by default), files typed application/octet-stream, message null; it uploads and packages as any other", async () => {
    const anna = await register("Anna");
    const bob = await register("Bob");
    const data = (n: number, seed: number) => crypto.getRandomValues(new Uint8Array(n)).map((b) => b ^ seed);
    const t = await sendFiles(
      anna,
      [bob],
      [
        { name: "1.age", data: data(300, 1) },
        { name: "2.age", data: data(1000, 2) },
        { name: "seal.age", data: data(4300, 3) },
      ],
      { sealed: true, message: null },
    );
    expect(t.sealed).toBe(true);
    expect(t.message).toBeNull();
    expect(t.files.map((f: any) => [f.name, f.type])).toEqual([
      ["1.age", "application/octet-stream"],
      ["2.age", "application/octet-stream"],
      ["seal.age", "application/octet-stream"],
    ]);
    expect((await getTransfer(bob, t.id)).sealed).toBe(true);
    const plain = await json(await createTransfer(anna, { to: [bob.id], files: [], message: "plain" }));
    expect(plain.sealed).toBe(false);
    // a sealed text alone is seal.age alone
    const text = await createTransfer(anna, { to: [bob.id], files: [ageFile("seal.age", 4296)], sealed: true });
    expect(text.status).toBe(201);
    expect((await json(text)).sealed).toBe(true);
  });

  it("400 when a sealed transfer would show anything in the clear: a message, real names, a type, no seal.age; nothing is recorded", async () => {
    const anna = await register("Anna");
    const bob = await register("Bob");
    const before = await countRows("transfers", "sender_id = ?", anna.id);
    const cases: Array<[string, unknown, string]> = [
      ["a message", { files: [ageFile("1.age"), ageFile("seal.age")], message: "hello" }, "message"],
      ["an empty message", { files: [ageFile("seal.age")], message: "" }, "message"],
      ["a real name", { files: [ageFile("holiday.jpg"), ageFile("seal.age")] }, "files.0.name"],
      ["seal.age not last", { files: [ageFile("seal.age"), ageFile("1.age")] }, "files.0.name"],
      ["out of order", { files: [ageFile("2.age"), ageFile("1.age"), ageFile("seal.age")] }, "files.0.name"],
      ["no seal.age", { files: [ageFile("1.age")] }, "files.0.name"],
      ["no files", { files: [], message: null }, "files"],
      ["a type", { files: [{ ...ageFile("1.age"), type: "image/jpeg" }, ageFile("seal.age")] }, "files.0.type"],
      ["too small for an age file", { files: [ageFile("1.age", 199), ageFile("seal.age")] }, "files.0.size"],
    ];
    for (const [why, body, path] of cases) {
      const res = await createTransfer(anna, { to: [bob.id], sealed: true, ...(body as object) });
      expect(res.status, why).toBe(400);
      const err = (await json(res)).error;
      expect(err.code, why).toBe("invalid_request");
      expect(err.details.issues.map((i: any) => i.path), why).toContain(path);
    }
    expect(await countRows("transfers", "sender_id = ?", anna.id)).toBe(before);
    // the type it has anyway is allowed
    const ok = await createTransfer(anna, { to: [bob.id], sealed: true, files: [{ ...ageFile("1.age"), type: "application/octet-stream" }, ageFile("seal.age")] });
    expect(ok.status).toBe(201);
  });
});
