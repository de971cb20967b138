import { describe, expect, it } from "vitest";
import { MAX_MESSAGE_LENGTH } from "../../src/contract";
import { api, createTransfer, eventually, getTransfer, json, openSocket, register, transferRow } from "./helpers";

/** Contract v1.1: a message without files (a note, a link) is ready at once and delivered by each ack. */
describe("messages without files", () => {
  it("is ready at once, has no package, and is delivered when every recipient has acknowledged it", async () => {
    const [alice, bob, carol] = [await register("Alice"), await register("Bob"), await register("Carol")];
    const sender = await openSocket(alice);
    const b = await openSocket(bob);
    const res = await createTransfer(alice, { to: [bob.id, carol.id], files: [], message: "https://example.com/x and a code 1234" });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(t).toMatchObject({ status: "ready", files: [], package: null, downloadUrl: null, size: 0 });

    // the recipient with a socket has it at once, with no links
    const [ready] = await b.take(1);
    expect(ready).toMatchObject({ type: "transfer.ready", id: `${t.id}.ready` });
    expect(ready.transfer).toMatchObject({ id: t.id, message: "https://example.com/x and a code 1234", files: [], downloadUrl: null });
    // there is no package to download
    const pkg = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    expect(pkg.status).toBe(404);
    expect((await json(pkg)).error.code).toBe("no_package");
    // nor any file: 404, not "expired" (it is not)
    for (const [method, who] of [["GET", bob], ["PUT", alice]] as const) {
      const one = await api(`/v1/transfers/${t.id}/files/0`, { method, headers: who.auth, ...(method === "PUT" ? { body: "x" } : {}) });
      expect(one.status).toBe(404);
      expect((await json(one)).error).toMatchObject({ code: "file_not_found", message: "This transfer is a message without files." });
    }
    // the inbox lists it
    const inbox = await json(await api(`/v1/terminals/${bob.id}/inbox`, { headers: bob.auth }));
    expect(inbox.transfers.map((x: any) => x.id)).toContain(t.id);

    // Bob acknowledges: his receipt, not yet delivered (Carol has not)
    b.ack(ready.id);
    const [receipt] = await sender.take(1);
    expect(receipt).toMatchObject({ type: "transfer.downloaded", transferId: t.id, by: bob.id });
    let seen = await getTransfer(alice, t.id);
    expect(seen.status).toBe("ready");
    expect(seen.recipients.find((r: any) => r.id === bob.id).downloadedAt).toBe(receipt.at);
    expect(seen.recipients.find((r: any) => r.id === carol.id).downloadedAt).toBeNull();
    // a second ack of the same message changes nothing
    b.ack(ready.id);

    // Carol connects later: replayed, acknowledged, delivered
    const c = await openSocket(carol);
    const [late] = await c.take(1);
    expect(late.id).toBe(`${t.id}.ready`);
    c.ack(late.id);
    const [second] = await sender.take(1);
    expect(second).toMatchObject({ type: "transfer.downloaded", transferId: t.id, by: carol.id });
    seen = await eventually(async () => {
      const x = await getTransfer(alice, t.id);
      return x.status === "delivered" ? x : undefined;
    });
    expect(seen.downloads).toBe(2);
    await sender.quiet();
    expect((await transferRow(t.id)).downloads).toBe(2);
    for (const s of [sender, b, c]) s.close();
  });

  it("a message to yourself is delivered by your own ack", async () => {
    const me = await register("Me");
    const s = await openSocket(me);
    const t = await json(await createTransfer(me, { to: [me.id], files: [], message: "note to self" }));
    const [ready] = await s.take(1);
    s.ack(ready.id);
    const [receipt] = await s.take(1);
    expect(receipt).toMatchObject({ type: "transfer.downloaded", transferId: t.id, by: me.id });
    expect((await getTransfer(me, t.id)).status).toBe("delivered");
    s.close();
  });

  it("needs a message when there are no files; a message may be 10,000 characters", async () => {
    const [a, b] = [await register(), await register()];
    for (const body of [{ to: [b.id], files: [] }, { to: [b.id], files: [], message: "   " }]) {
      const res = await createTransfer(a, body);
      expect(res.status).toBe(400);
      expect((await json(res)).error).toMatchObject({ code: "invalid_request", message: "files: send at least one file, or a message" });
    }
    expect(MAX_MESSAGE_LENGTH).toBe(10_000);
    expect((await createTransfer(a, { to: [b.id], files: [], message: "x".repeat(10_000) })).status).toBe(201);
    const long = await createTransfer(a, { to: [b.id], files: [], message: "x".repeat(10_001) });
    expect(long.status).toBe(400);
    expect((await json(long)).error.code).toBe("invalid_request");
  });
});
