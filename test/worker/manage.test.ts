import { beforeAll, describe, expect, it } from "vitest";
import { dammDigit } from "../../src/auth/ids";
import { deleteTerminal } from "../../src/auth/manage";
import { sweep } from "../../src/expire";
import { getTerminal, markTerminalDeleted } from "../../src/store/terminals";
import { CLOSE_TERMINAL_DELETED, CLOSE_TOKEN_ROTATED } from "../../src/notify/sockets";
import { frameKey } from "../../src/store/keys";
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
  putFile,
  register,
  sendFiles,
  terminalStub,
  uploadedKeys,
  type TestTerminal,
} from "./helpers";

/**
 * Contract v1.1: a terminal manages itself (token rotation, deletion, settings) and controls
 * whom it takes transfers from (contacts, blocked, accept: "known").
 */

const withToken = (t: TestTerminal, token: string): TestTerminal => ({ ...t, token, auth: { authorization: `Bearer ${token}` } });

const call = (t: TestTerminal, method: string, path: string, body?: unknown) =>
  api(`/v1/terminals/${t.id}${path}`, {
    method,
    headers: { ...t.auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });

async function rotate(t: TestTerminal): Promise<TestTerminal> {
  const res = await call(t, "POST", "/token");
  expect(res.status).toBe(200);
  expect(res.headers.get("cache-control")).toBe("no-store");
  const body = await json(res);
  expect(Object.keys(body)).toEqual(["token"]);
  expect(body.token).toMatch(/^pd_[A-Za-z0-9_-]{43}$/);
  expect(body.token).not.toBe(t.token);
  return withToken(t, body.token);
}

const settings = async (t: TestTerminal) => {
  const res = await call(t, "GET", "/settings");
  expect(res.status).toBe(200);
  return json(res);
};

const file = (size = 3, name = "a.txt") => ({ name, size });

/** Makes `t` a tombstone as a DELETE does, and nothing else (its object is not erased). */
async function tombstone(t: TestTerminal, at = Date.now()): Promise<void> {
  const hash = (await env.DB.prepare("SELECT token_hash FROM terminals WHERE id = ?").bind(t.id).first<string>("token_hash"))!;
  expect(await markTerminalDeleted(env.DB, t.id, hash, at)).toBe(true);
}

/** env.TERMINAL, except that the object of `terminalId` cannot be erased (as if unreachable) */
function eraseFailsFor(terminalId: string): typeof env.TERMINAL {
  const unreachable = env.TERMINAL.idFromName(terminalId).toString();
  return new Proxy(env.TERMINAL, {
    get(target, prop) {
      if (prop === "get") {
        return (id: DurableObjectId) => {
          const stub = target.get(id);
          if (id.toString() !== unreachable) return stub;
          return new Proxy(stub, { get: (s, p) => (p === "erase" ? async () => { throw new Error("object unreachable"); } : Reflect.get(s, p)) });
        };
      }
      const v = Reflect.get(target, prop);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
}

describe("POST /v1/terminals/{id}/token: rotation", () => {
  it("gives a new token; the old one fails at once, everywhere", async () => {
    const alice = await register("Alice");
    const bob = await register("Bob");
    const fresh = await rotate(alice);
    // the old token: 401 on every route that takes a token
    for (const res of [
      await api(`/v1/terminals/${alice.id}/inbox`, { headers: alice.auth }),
      await call(alice, "GET", "/settings"),
      await call(alice, "POST", "/token"),
      await createTransfer(alice, { to: [bob.id], files: [file()] }),
    ]) {
      expect(res.status).toBe(401);
      expect((await json(res)).error.code).toBe("unauthorized");
    }
    // the new one works
    expect((await api(`/v1/terminals/${alice.id}/inbox`, { headers: fresh.auth })).status).toBe(200);
    expect((await createTransfer(fresh, { to: [bob.id], files: [file()] })).status).toBe(201);
    // and rotates again
    await rotate(fresh);
  });

  it("closes sockets opened with the old token, refuses new ones with it, and keeps messages for the new", async () => {
    const t = await register("Rotating");
    const old = await openSocket(t);
    const fresh = await rotate(t);
    await eventually(async () => (old.isClosed() ? true : undefined), 5000, "old socket closed");
    expect(old.closeCode()).toBe(CLOSE_TOKEN_ROTATED);
    const refused = await api(`/v1/terminals/${t.id}/socket?token=${t.token}`, { headers: { upgrade: "websocket" } });
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    // a message queued now reaches a socket opened with the new token only
    await terminalStub(t.id).enqueue(t.id, { type: "transfer.expired", id: "after-rotation", transferId: "T".repeat(22) }, { transferId: null, expiresAt: null });
    const c = await openSocket(fresh);
    expect((await c.take(1))[0].id).toBe("after-rotation");
    c.close();
  });

  it("a socket that got past the worker's check just before a rotation is refused by the terminal's object", async () => {
    const t = await register("Race");
    const stub = terminalStub(t.id);
    await stub.revokeSockets(2); // the rotation to generation 2 reached the object first
    const res = await stub.fetch(
      new Request("https://pushdrop.test/socket", { headers: { upgrade: "websocket", "x-pushdrop-terminal": t.id, "x-pushdrop-token-gen": "1" } }),
    );
    expect(res.status).toBe(401);
  });

  it("another terminal's token: 403; no token: 401", async () => {
    const a = await register();
    const b = await register();
    expect((await api(`/v1/terminals/${a.id}/token`, { method: "POST", headers: b.auth })).status).toBe(403);
    expect((await api(`/v1/terminals/${a.id}/token`, { method: "POST" })).status).toBe(401);
    // a's token still works: nothing changed
    expect((await call(a, "GET", "/settings")).status).toBe(200);
  });
});

describe("DELETE /v1/terminals/{id}", () => {
  it("the id answers 404, the token 401, sending to it 404; messages, subscriptions and sockets are gone", async () => {
    const alice = await register("Alice");
    const gone = await register("Leaving");
    await terminalStub(gone.id).enqueue(gone.id, { type: "transfer.expired", id: "pending-1", transferId: "T".repeat(22) }, { transferId: null, expiresAt: null });
    const sub = {
      endpoint: "https://fcm.googleapis.com/fcm/send/abc",
      keys: { p256dh: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg", auth: "AAAAAAAAAAAAAAAAAAAAAA" },
    };
    expect((await call(gone, "PUT", "/push-subscription", sub)).status).toBe(204);
    expect(await terminalStub(gone.id).subscriptionCount()).toBe(1);
    const socket = await openSocket(gone);
    await socket.take(1);

    const res = await call(gone, "DELETE", "");
    expect(res.status).toBe(204);
    await eventually(async () => (socket.isClosed() ? true : undefined), 5000, "socket closed");
    expect(socket.closeCode()).toBe(CLOSE_TERMINAL_DELETED);

    expect((await api(`/v1/terminals/${gone.id}`)).status).toBe(404);
    expect((await call(gone, "GET", "/settings")).status).toBe(401);
    expect((await call(gone, "DELETE", "")).status).toBe(401);
    const send = await createTransfer(alice, { to: [gone.id], files: [file()] });
    expect(send.status).toBe(404);
    expect((await json(send)).error.details).toEqual({ missing: [gone.id] });
    expect(await outboxOf(gone.id)).toEqual([]);
    expect(await terminalStub(gone.id).subscriptionCount()).toBe(0);
    // a late message for it (a transfer it was in) is dropped, not kept for nobody
    expect((await terminalStub(gone.id).enqueue(gone.id, { type: "transfer.expired", id: "late", transferId: "T".repeat(22) }, { transferId: null, expiresAt: null })).queued).toBe(false);
    // its id is a tombstone: never drawn again
    expect(await countRows("terminals", "id = ? AND deleted_at IS NOT NULL AND name = ''", gone.id)).toBe(1);
    expect(await countRows("terminals", "id = ? AND erased_at IS NOT NULL", gone.id)).toBe(1);
  });

  it("a DELETE whose erase fails still answers (the terminal is deleted), cancels what it sent, and leaves the erase to the sweep", async () => {
    const bob = await register("Bob");
    const gone = await register("Unreachable");
    const sent = await json(await createTransfer(gone, { to: [bob.id], files: [file()] }));
    // the terminal's own object cannot be reached; every other object can
    const TERMINAL = eraseFailsFor(gone.id);
    const row = (await getTerminal(env.DB, gone.id))!;
    await expect(deleteTerminal({ ...env, TERMINAL }, row)).resolves.toBeUndefined();
    expect(await countRows("terminals", "id = ? AND deleted_at IS NOT NULL AND erased_at IS NULL", gone.id)).toBe(1);
    expect(await countRows("transfers", "id = ? AND status = 'cancelled'", sent.id)).toBe(1);
    await sweep(env);
    expect(await countRows("terminals", "id = ? AND erased_at IS NOT NULL", gone.id)).toBe(1);
  });

  it("a DELETE that wrote the tombstone but could not reach the terminal's object: the sweep erases the object", async () => {
    const gone = await register("Half-gone");
    const sub = {
      endpoint: "https://fcm.googleapis.com/fcm/send/half",
      keys: { p256dh: "BOiMAgUQs9wIOdTQFLEwjZAhicx_U3fv2lFHTvrU7S6ErxHsmSEO6GCRabThQ5RKYl2MDz3bi-gky4MWv1GPlEg", auth: "AAAAAAAAAAAAAAAAAAAAAA" },
    };
    expect((await call(gone, "PUT", "/push-subscription", sub)).status).toBe(204);
    // the tombstone alone, as a DELETE leaves it when its object is unreachable
    await tombstone(gone);
    expect(await terminalStub(gone.id).subscriptionCount()).toBe(1);
    expect(await countRows("terminals", "id = ? AND erased_at IS NULL", gone.id)).toBe(1);
    await sweep(env);
    expect(await terminalStub(gone.id).subscriptionCount()).toBe(0);
    expect(await countRows("terminals", "id = ? AND erased_at IS NOT NULL", gone.id)).toBe(1);
  });

  it("a terminal whose object stays unreachable does not keep the sweep from erasing the others: each failure goes to the back", async () => {
    const stuck = await register("Stuck");
    const next = await register("Next");
    await tombstone(stuck, 1000);
    await tombstone(next, 2000);
    const TERMINAL = eraseFailsFor(stuck.id);
    // one tombstone per sweep: the older one first (it fails), then the other one
    for (let i = 0; i < 4 && (await countRows("terminals", "id = ? AND erased_at IS NULL", next.id)) > 0; i++) await sweep({ ...env, TERMINAL }, Date.now(), 1);
    expect(await countRows("terminals", "id = ? AND erased_at IS NOT NULL", next.id)).toBe(1);
    expect(await countRows("terminals", "id = ? AND erased_at IS NULL AND erase_tried_at IS NOT NULL", stuck.id)).toBe(1);
    // reachable again: erased by a later sweep
    await sweep(env, Date.now(), 1);
    expect(await countRows("terminals", "id = ? AND erased_at IS NOT NULL", stuck.id)).toBe(1);
  });

  it("cancels what it sent and is not delivered (recipients told), leaves delivered transfers as they are", async () => {
    const sender = await register("Sender");
    const bob = await register("Bob");
    const carol = await register("Carol");
    const ready = await sendFiles(sender, [bob], [{ name: "r.txt", data: new Uint8Array([1, 2, 3]) }]);
    const delivered = await sendFiles(sender, [carol], [{ name: "d.txt", data: new Uint8Array([4]) }]);
    const dl = await api(`/v1/transfers/${delivered.id}/package`, { headers: carol.auth });
    await dl.arrayBuffer();
    await eventually(async () => ((await getTransfer(carol, delivered.id)).status === "delivered" ? true : undefined), 5000, "delivered");
    // still uploading: one of its two files is in, so it has a part object to remove
    const uploading = await json(await createTransfer(sender, { to: [bob.id], files: [file(10), file(5, "b.txt")] }));
    expect((await putFile(sender, uploading.id, 1, new Uint8Array(5))).status).toBe(200);
    expect(await uploadedKeys(uploading.id)).toHaveLength(1);
    expect(await uploadedKeys(ready.id)).not.toEqual([]);
    expect(await env.BUCKET.head(frameKey(ready.id))).not.toBeNull();

    expect((await call(sender, "DELETE", "")).status).toBe(204);
    expect((await getTransfer(bob, ready.id)).status).toBe("cancelled");
    expect((await getTransfer(bob, uploading.id)).status).toBe("cancelled");
    expect((await getTransfer(carol, delivered.id)).status).toBe("delivered");
    const bobs = await outboxOf(bob.id);
    expect(bobs.find((m) => m.id === `${ready.id}.cancelled`)).toBeTruthy();
    // the ready message was withdrawn; nothing at all about the transfer that never got ready
    expect(bobs.find((m) => m.id === `${ready.id}.ready`)!.acked_at).not.toBeNull();
    expect(bobs.filter((m) => m.transfer_id === uploading.id)).toEqual([]);
    // its files are gone
    expect(await uploadedKeys(uploading.id)).toEqual([]);
    expect(await uploadedKeys(ready.id)).toEqual([]);
    expect(await env.BUCKET.head(frameKey(ready.id))).toBeNull();
    // a delivered transfer is left as it is, its bytes too
    expect(await env.BUCKET.head(frameKey(delivered.id))).not.toBeNull();
  });

  it("another terminal's token cannot delete it", async () => {
    const a = await register();
    const b = await register();
    expect((await api(`/v1/terminals/${a.id}`, { method: "DELETE", headers: b.auth })).status).toBe(403);
    expect((await api(`/v1/terminals/${a.id}`)).status).toBe(200);
  });
});

describe("GET/PATCH /v1/terminals/{id}/settings", () => {
  it("starts as anyone with empty lists; PATCH changes name and accept, and answers the settings", async () => {
    const t = await register("Desk");
    expect(await settings(t)).toEqual({ name: "Desk", accept: "anyone", contacts: [], blocked: [], waiting: { bytes: 0, uploading: 0 } });
    const res = await call(t, "PATCH", "/settings", { name: "  Office\u0007 ", accept: "known" });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ name: "Office", accept: "known", contacts: [], blocked: [], waiting: { bytes: 0, uploading: 0 } });
    expect(await settings(t)).toEqual({ name: "Office", accept: "known", contacts: [], blocked: [], waiting: { bytes: 0, uploading: 0 } });
    expect(await json(await api(`/v1/terminals/${t.id}`))).toMatchObject({ name: "Office" });
    // an empty name is the default one
    expect((await json(await call(t, "PATCH", "/settings", { name: "" }))).name).toMatch(/^Terminal \d{3} \d{3} \d{3}$/);
    // {} changes nothing
    expect((await json(await call(t, "PATCH", "/settings", {}))).accept).toBe("known");
  });

  it("refuses bad input with 400 and changes nothing", async () => {
    const t = await register("Strict");
    for (const body of [{ accept: "friends" }, { name: "x".repeat(65) }, { name: 5 }, { acept: "known" }, [], null]) {
      const res = await call(t, "PATCH", "/settings", body);
      expect(res.status).toBe(400);
      expect((await json(res)).error.code).toBe("invalid_request");
    }
    expect(await settings(t)).toEqual({ name: "Strict", accept: "anyone", contacts: [], blocked: [], waiting: { bytes: 0, uploading: 0 } });
  });

  it("someone else's settings: 403 with a token, 401 without", async () => {
    const a = await register();
    const b = await register();
    expect((await api(`/v1/terminals/${a.id}/settings`, { headers: b.auth })).status).toBe(403);
    expect((await api(`/v1/terminals/${a.id}/settings`)).status).toBe(401);
    expect((await api(`/v1/terminals/${a.id}/settings`, { method: "PATCH", headers: { ...b.auth, "content-type": "application/json" }, body: '{"accept":"known"}' })).status).toBe(403);
    expect((await settings(a)).accept).toBe("anyone");
  });
});

describe("contacts, blocked, and who may send", () => {
  let alice: TestTerminal;
  let bob: TestTerminal;
  beforeAll(async () => {
    alice = await register("Alice");
    bob = await register("Bob");
  });

  const counts = async () => ({ transfers: await countRows("transfers"), recipients: await countRows("recipients") });

  it("PUT and DELETE contacts and blocked: 204, listed with names, idempotent", async () => {
    const t = await register("Lists");
    expect((await call(t, "PUT", `/contacts/${alice.id}`)).status).toBe(204);
    expect((await call(t, "PUT", `/contacts/${alice.id}`)).status).toBe(204);
    expect((await call(t, "PUT", `/blocked/${bob.id.slice(0, 3)} ${bob.id.slice(3, 6)} ${bob.id.slice(6)}`)).status).toBe(204);
    const s = await settings(t);
    expect(s.contacts).toEqual([{ id: alice.id, name: "Alice" }]);
    expect(s.blocked).toEqual([{ id: bob.id, name: "Bob" }]);
    expect((await call(t, "DELETE", `/contacts/${alice.id}`)).status).toBe(204);
    expect((await call(t, "DELETE", `/contacts/${alice.id}`)).status).toBe(204);
    expect((await call(t, "DELETE", `/blocked/${bob.id}`)).status).toBe(204);
    expect(await settings(t)).toMatchObject({ contacts: [], blocked: [], waiting: { bytes: 0, uploading: 0 } });
  });

  it("an unknown or malformed other id: 404 terminal_not_found; another terminal's list: 403", async () => {
    const t = await register();
    const unknown = (() => {
      for (let n = 30_000_000; ; n++) {
        const id = `${n}${dammDigit(String(n))}`;
        if (![alice.id, bob.id, t.id].includes(id)) return id;
      }
    })();
    for (const path of [`/contacts/${unknown}`, `/blocked/${unknown}`, "/contacts/12345", "/blocked/not-an-id"]) {
      const res = await call(t, "PUT", path);
      expect(res.status).toBe(404);
      expect((await json(res)).error.code).toBe("terminal_not_found");
    }
    expect((await api(`/v1/terminals/${alice.id}/blocked/${bob.id}`, { method: "PUT", headers: t.auth })).status).toBe(403);
    expect((await api(`/v1/terminals/${alice.id}/contacts/${bob.id}`, { method: "DELETE", headers: t.auth })).status).toBe(403);
    expect((await settings(alice)).blocked).toEqual([]);
  });

  it("sending adds the recipients to the sender's contacts", async () => {
    const s = await register("Sender");
    const r1 = await register("R1");
    const r2 = await register("R2");
    expect((await createTransfer(s, { to: [r1.id, r2.id], files: [file()] })).status).toBe(201);
    expect((await settings(s)).contacts.map((c: any) => c.id).sort()).toEqual([r1.id, r2.id].sort());
    // not the other way round
    expect((await settings(r1)).contacts).toEqual([]);
  });

  it("accept: known takes contacts only; a stranger gets 403 recipient_refused and nothing is recorded or sent", async () => {
    const picky = await register("Picky");
    const open = await register("Open");
    const stranger = await register("Stranger");
    await call(picky, "PATCH", "/settings", { accept: "known" });
    await call(picky, "PUT", `/contacts/${alice.id}`);

    const before = await counts();
    const res = await createTransfer(stranger, { to: [open.id, picky.id], files: [], message: "hi" });
    expect(res.status).toBe(403);
    const err = (await json(res)).error;
    expect(err.code).toBe("recipient_refused");
    expect(err.details).toEqual({ refused: [picky.id] });
    expect(await counts()).toEqual(before);
    // nothing reached the recipient who would have taken it
    expect(await outboxOf(open.id)).toEqual([]);
    expect(await outboxOf(picky.id)).toEqual([]);
    // nor did the refused attempt make them contacts of the stranger
    expect((await settings(stranger)).contacts).toEqual([]);

    // a contact may send; and once picky sent to the stranger, the stranger is known too
    expect((await createTransfer(alice, { to: [picky.id], files: [], message: "from a contact" })).status).toBe(201);
    expect((await createTransfer(picky, { to: [stranger.id], files: [], message: "hello" })).status).toBe(201);
    expect((await settings(picky)).contacts.map((c: any) => c.id)).toContain(stranger.id);
    expect((await createTransfer(stranger, { to: [picky.id], files: [], message: "a reply" })).status).toBe(201);
  });

  it("a blocked sender is refused whatever accept says, with the same answer as not known; one-shot sends too", async () => {
    const r = await register("Blocker");
    const pest = await register("Pest");
    await call(r, "PUT", `/contacts/${pest.id}`);
    await call(r, "PUT", `/blocked/${pest.id}`);
    const blocked = await createTransfer(pest, { to: [r.id], files: [file()] });
    expect(blocked.status).toBe(403);
    const blockedErr = (await json(blocked)).error;

    const known = await register("KnownOnly");
    await call(known, "PATCH", "/settings", { accept: "known" });
    const notKnown = await createTransfer(pest, { to: [known.id], files: [file()] });
    const notKnownErr = (await json(notKnown)).error;
    // the same answer, but for the id
    expect(notKnownErr.code).toBe(blockedErr.code);
    expect(notKnownErr.message.replace(known.id, "X")).toBe(blockedErr.message.replace(r.id, "X"));

    const oneShot = await api(`/v1/send/${r.id}/x.txt`, { method: "PUT", headers: { ...pest.auth, "content-length": "3" }, body: "abc" });
    expect(oneShot.status).toBe(403);
    expect((await json(oneShot)).error.details).toEqual({ refused: [r.id] });

    // unblocked: it may send again
    await call(r, "DELETE", `/blocked/${pest.id}`);
    expect((await createTransfer(pest, { to: [r.id], files: [file()] })).status).toBe(201);
  });

  it("a terminal never refuses itself", async () => {
    const me = await register("Me");
    await call(me, "PATCH", "/settings", { accept: "known" });
    await call(me, "PUT", `/blocked/${me.id}`);
    expect((await createTransfer(me, { to: [me.id], files: [], message: "note to self" })).status).toBe(201);
  });

  it("a block cancels a transfer created before it: its upload then gets 409 (test/worker/quota.test.ts has the rest)", async () => {
    const r = await register();
    const s = await register();
    const t = await json(await createTransfer(s, { to: [r.id], files: [file(3)] }));
    await call(r, "PUT", `/blocked/${s.id}`);
    const put = await putFile(s, t.id, 0, new Uint8Array([1, 2, 3]));
    expect(put.status).toBe(409);
    expect((await json(put)).error.code).toBe("not_uploading");
  });
});
