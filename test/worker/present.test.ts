import { describe, expect, it } from "vitest";
import { presentTransfer } from "../../src/present";
import { getTransferRecord } from "../../src/store/transfers";
import { bytes, env, register, sendFiles } from "./helpers";

describe("links in a Transfer", () => {
  it("point at the origin the viewer used; pushed messages at the creator's; PUBLIC_URL wins over both", async () => {
    const alice = await register("link-a");
    const bob = await register("link-b");
    const t = await sendFiles(alice, [bob], [{ name: "l.txt", data: bytes(10, 3) }]);
    const rec = (await getTransferRecord(env.DB, t.id))!;
    const now = Date.now();
    const noPublic = { ...env, PUBLIC_URL: "" };
    const viewed = await presentTransfer(noPublic, rec, { terminalId: bob.id, now, origin: "http://192.0.2.7:8787" });
    expect(viewed.downloadUrl).toMatch(/^http:\/\/192\.0\.2\.7:8787\/v1\/transfers\//);
    expect(viewed.files[0]!.uploadUrl).toMatch(/^http:\/\/192\.0\.2\.7:8787\//);
    const pushed = await presentTransfer(noPublic, rec, { terminalId: bob.id, now });
    expect(pushed.downloadUrl!.startsWith(`${rec.transfer.origin}/v1/`)).toBe(true);
    const configured = await presentTransfer({ ...env, PUBLIC_URL: "https://drop.example/" }, rec, { terminalId: bob.id, now, origin: "http://x" });
    expect(configured.downloadUrl).toMatch(/^https:\/\/drop\.example\/v1\//);
    // the sender gets no download link; a recipient's is signed for that recipient
    expect((await presentTransfer(noPublic, rec, { terminalId: alice.id, now })).downloadUrl).toBeNull();
    expect(new URL(viewed.downloadUrl!).searchParams.get("r")).toBe(bob.id);
  });
});
