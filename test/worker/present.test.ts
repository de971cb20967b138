import { describe, expect, it } from "vitest";
import { presentTransfer } from "../../src/present";
import { getTransferRecord } from "../../src/store/transfers";
import { bytes, env, register, sendFiles } from "./helpers";

describe("links in a Transfer", () => {
  it("point at the origin the viewer used, never the creator's; a message's stay relative and unsigned until sent; PUBLIC_URL wins", async () => {
    const alice = await register("link-a");
    const bob = await register("link-b");
    const t = await sendFiles(alice, [bob], [{ name: "l.txt", data: bytes(10, 3) }]);
    const rec = (await getTransferRecord(env.DB, t.id))!;
    const now = Date.now();
    const noPublic = { ...env, PUBLIC_URL: "" };
    const viewed = await presentTransfer(noPublic, rec, { terminalId: bob.id, now, origin: "http://192.0.2.7:8787", gen: 1 });
    expect(viewed.downloadUrl).toMatch(/^http:\/\/192\.0\.2\.7:8787\/v1\/transfers\//);
    expect(viewed.files[0]!.uploadUrl).toMatch(/^http:\/\/192\.0\.2\.7:8787\//);
    // queued for a terminal (no viewer origin): relative and unsigned; the terminal's object completes them when it sends
    const queued = await presentTransfer(noPublic, rec, { terminalId: bob.id, now });
    expect(queued.downloadUrl).toBeNull();
    expect(queued.files[0]!.uploadUrl).toBe(`/v1/transfers/${t.id}/files/0`);
    const configured = await presentTransfer({ ...env, PUBLIC_URL: "https://drop.example/" }, rec, { terminalId: bob.id, now, origin: "http://x", gen: 1 });
    expect(configured.downloadUrl).toMatch(/^https:\/\/drop\.example\/v1\//);
    // the sender gets no download link; a recipient's is signed for that recipient
    expect((await presentTransfer(noPublic, rec, { terminalId: alice.id, now, origin: "http://x", gen: 1 })).downloadUrl).toBeNull();
    expect(new URL(viewed.downloadUrl!).searchParams.get("r")).toBe(bob.id);
  });

  it("no origin is stored with a transfer (migration 0010 dropped transfers.origin: links are made when shown or sent)", async () => {
    const { results } = await env.DB.prepare("SELECT name FROM pragma_table_info('transfers')").all<{ name: string }>();
    const columns = results.map((r) => r.name);
    expect(columns).toContain("sealed");
    expect(columns).not.toContain("origin");
  });
});
