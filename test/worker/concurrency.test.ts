import { describe, expect, it } from "vitest";
import { frameKey } from "../../src/store/keys";
import {
  api,
  bigBytes,
  bytes,
  createTransfer,
  env,
  eventually,
  getTransfer,
  json,
  outboxOf,
  putFile,
  register,
  sendFiles,
  sha256,
  uploadedKeys,
  waitForStatus,
  type TestTerminal,
} from "./helpers";

/** Things that happen at once: consistent, nothing lost, nothing sent twice. */

const readyMessages = async (t: TestTerminal, transferId: string) =>
  (await outboxOf(t.id)).filter((m) => m.type === "transfer.ready" && m.transfer_id === transferId);

describe("at once", () => {
  it("two senders to one recipient: both transfers arrive, each told once, each downloadable", async () => {
    const [a, c, b] = await Promise.all([register("A"), register("C"), register("B")]);
    const da = bytes(50_000, 1);
    const dc = bytes(60_000, 2);
    const [ta, tc] = await Promise.all([
      sendFiles(a, [b], [{ name: "from-a.bin", data: da }]),
      sendFiles(c, [b], [{ name: "from-c.bin", data: dc }]),
    ]);
    const inbox = await json(await api(`/v1/terminals/${b.id}/inbox`, { headers: b.auth }));
    expect(inbox.transfers.map((t: any) => t.id).sort()).toEqual([ta.id, tc.id].sort());
    expect(await readyMessages(b, ta.id)).toHaveLength(1);
    expect(await readyMessages(b, tc.id)).toHaveLength(1);
    const [fa, fc] = await Promise.all([
      api(`/v1/transfers/${ta.id}/files/0`, { headers: b.auth }).then((r) => r.arrayBuffer()),
      api(`/v1/transfers/${tc.id}/files/0`, { headers: b.auth }).then((r) => r.arrayBuffer()),
    ]);
    expect(await sha256(fa)).toBe(await sha256(da));
    expect(await sha256(fc)).toBe(await sha256(dc));
  });

  it("one sender to 100 recipients, who all download at once: 100 ready messages, 100 receipts, delivered, downloads = 100", async () => {
    const sender = await register("Broadcaster");
    const recipients = await Promise.all(Array.from({ length: 100 }, (_, i) => register(`R${i}`)));
    const data = bytes(20_000, 3);
    const t = await sendFiles(sender, recipients, [{ name: "all.bin", data }]);
    for (const r of recipients) expect(await readyMessages(r, t.id)).toHaveLength(1);
    const got = await Promise.all(recipients.map((r) => api(`/v1/transfers/${t.id}/package`, { headers: r.auth }).then((res) => res.arrayBuffer())));
    for (const g of got) expect(await sha256(g)).toBe(t.package.sha256);
    const done = await eventually(async () => {
      const x = await getTransfer(sender, t.id);
      return x.status === "delivered" ? x : undefined;
    }, 20_000, "delivered");
    expect(done.downloads).toBe(100);
    expect(done.recipients.every((r: any) => r.downloadedAt !== null)).toBe(true);
    const receipts = (await outboxOf(sender.id)).filter((m) => m.type === "transfer.downloaded" && m.transfer_id === t.id);
    expect(receipts).toHaveLength(100);
    expect(new Set(receipts.map((m) => m.body.by)).size).toBe(100);
  });

  it("the same part twice at once: the file ends whole and right (a 409 upload_conflict asks for the part again)", async () => {
    const a = await register();
    const b = await register();
    const data = bigBytes(20 * 1024 * 1024, 4); // 2 parts of 16 MiB
    const t = await json(await createTransfer(a, { to: [b.id], files: [{ name: "twice.bin", size: data.byteLength }] }));
    const ps = t.files[0].partSize;
    const part = (n: number) => data.slice((n - 1) * ps, n * ps);
    const answers = await Promise.all([putFile(a, t.id, 0, part(1), 1), putFile(a, t.id, 0, part(1), 1), putFile(a, t.id, 0, part(2), 2)]);
    const statuses = answers.map((r) => r.status);
    for (const r of answers) await r.body?.cancel();
    expect(statuses.every((s) => s === 200 || s === 409)).toBe(true);
    // a client does what a 409 says: sends the parts again (once the file is whole: 409 file_complete)
    if ((await getTransfer(a, t.id)).status === "uploading") {
      for (const n of [1, 2]) {
        const r = await putFile(a, t.id, 0, part(n), n);
        expect([200, 409]).toContain(r.status);
        await r.body?.cancel();
      }
    }
    const ready = await waitForStatus(a, t.id);
    const file = await api(`/v1/transfers/${ready.id}/files/0`, { headers: b.auth });
    expect(await sha256(await file.arrayBuffer())).toBe(await sha256(data));
  });

  it("a cancel racing a download: the transfer ends cancelled, the package is gone, and no download counts after it", async () => {
    const a = await register();
    const b = await register();
    const t = await sendFiles(a, [b], [{ name: "race.bin", data: bigBytes(6 * 1024 * 1024, 5) }]);
    // what there is to remove: the uploaded part and the package's frame
    expect(await uploadedKeys(t.id)).not.toEqual([]);
    expect(await env.BUCKET.head(frameKey(t.id))).not.toBeNull();
    const res = await api(`/v1/transfers/${t.id}/package`, { headers: b.auth });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    const [cancel] = await Promise.all([
      api(`/v1/transfers/${t.id}`, { method: "DELETE", headers: a.auth }),
      (async () => {
        try {
          for (;;) if ((await reader.read()).done) break;
        } catch {
          // the bytes may stop when the package goes: either way is consistent
        }
      })(),
    ]);
    expect(cancel.status).toBe(204);
    const after = await getTransfer(a, t.id);
    expect(after.status).toBe("cancelled");
    expect(await env.BUCKET.head(frameKey(t.id))).toBeNull();
    expect(await uploadedKeys(t.id)).toEqual([]);
    const again = await api(`/v1/transfers/${t.id}/package`, { headers: b.auth });
    expect(again.status).toBe(410);
    expect((await json(again)).error.code).toBe("transfer_cancelled");
    // at most the one download that was under way when it was cancelled
    expect(after.downloads).toBeLessThanOrEqual(1);
    expect((await outboxOf(a.id)).filter((m) => m.type === "transfer.downloaded" && m.transfer_id === t.id).length).toBeLessThanOrEqual(1);
  });
});
