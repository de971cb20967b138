import { beforeAll, describe, expect, it } from "vitest";
import { sweep } from "../../src/expire";
import { FINISH_MS } from "../../src/config";
import { bytes, trackedRequests, env, eventually, getTransfer, json, openSocket, outboxOf, register, sendFiles, type TestTerminal } from "./helpers";

/**
 * Contract v1.2, sealed transfers (issue 23) on the download path: fetching `seal.age` never
 * counts toward receipts or maxDownloads (never a start; a sealed transfer is had once every
 * other file is), it stays readable when maxDownloads is used up, and a sealed text (`seal.age`
 * alone) is delivered by the ack of its transfer.ready, like any message.
 */

let alice: TestTerminal;
let bob: TestTerminal;
let carol: TestTerminal;

beforeAll(async () => {
  [alice, bob, carol] = await Promise.all([register("Alice"), register("Bob"), register("Carol")]);
});

const requests = trackedRequests();
const get = (path: string, who: TestTerminal | null, headers: Record<string, string> = {}) => requests.fetch(path, { headers: { ...(who ? who.auth : {}), ...headers } });
const filePath = (t: any, i: number) => `/v1/transfers/${t.id}/files/${i}`;
const pkgPath = (t: any) => `/v1/transfers/${t.id}/package`;
/** GET, read the whole body, return the status */
const fetchAll = async (path: string, who: TestTerminal | null, headers: Record<string, string> = {}) => {
  const res = await get(path, who, headers);
  await res.arrayBuffer();
  return res.status;
};
/** every request so far has recorded what it served: an assertion of "nothing counted" after it can fail */
const settle = () => requests.settled();
const receipts = async (t: any) => (await outboxOf(alice.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.downloaded");
const dataOffset = async (t: any, idx: number) =>
  (await env.DB.prepare("SELECT data_offset FROM transfer_files WHERE transfer_id = ? AND idx = ?").bind(t.id, idx).first<number>("data_offset"))!;
const deliveredTo = (t: any, position = 0) =>
  eventually(async () => {
    const x = await getTransfer(alice, t.id);
    return x.recipients[position].downloadedAt ? x : undefined;
  }, 10_000, `recipient ${position} has ${t.id}`);

/** The first frame (already come, or to come) that `match` picks, whatever came before it. */
const frame = (sock: { frames: any[] }, match: (m: any) => boolean) =>
  eventually(async () => sock.frames.find(match), 5_000, "the frame");

/** A sealed transfer as the server sees one: 1.age … n.age, then seal.age (opaque bytes here). */
const sealed = (to: TestTerminal[], sizes: number[], seal = 4300, extra: Record<string, unknown> = {}) =>
  sendFiles(
    alice,
    to,
    [...sizes.map((n, i) => ({ name: `${i + 1}.age`, data: bytes(n, 40 + i) })), { name: "seal.age", data: bytes(seal, 39) }],
    { sealed: true, message: null, ...extra },
  );

describe("seal.age counts for nothing", () => {
  it("fetching seal.age is no start and no receipt; the other files fetched make the delivery, without seal.age", async () => {
    const t = await sealed([bob], [30_000, 500]);
    expect(t.files.map((f: any) => f.name)).toEqual(["1.age", "2.age", "seal.age"]);
    // seal.age, whole, twice, by token and by the signed link
    expect(await fetchAll(filePath(t, 2), bob)).toBe(200);
    const link = new URL((await getTransfer(bob, t.id)).files[2].downloadUrl);
    expect(await fetchAll(link.pathname + link.search, null)).toBe(200);
    await settle();
    let x = await getTransfer(alice, t.id);
    expect(x.downloads).toBe(0);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM served WHERE transfer_id = ?").bind(t.id).first("n")).toBe(0);

    // 1.age then 2.age: delivered (seal.age's bytes were not needed, nor are they recorded)
    expect(await fetchAll(filePath(t, 0), bob)).toBe(200);
    await settle();
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    expect(await fetchAll(filePath(t, 1), bob)).toBe(200);
    x = await deliveredTo(t);
    expect(x.status).toBe("delivered");
    expect(x.downloads).toBe(2); // the two starts: 1.age and 2.age
    await eventually(async () => ((await receipts(t)).length === 1 ? true : undefined));
  });

  it("the package up to the end of the last sealed file (seal.age's bytes not sent) is a delivery", async () => {
    const t = await sealed([bob], [20_000, 700]);
    const end = (await dataOffset(t, 1)) + 700; // 2.age's last byte + 1; seal.age comes after
    expect(end).toBeLessThan(await dataOffset(t, 2));
    expect(await fetchAll(pkgPath(t), bob, { range: `bytes=0-${end - 1}` })).toBe(206);
    const x = await deliveredTo(t);
    expect(x.downloads).toBe(1); // the package from byte 0 is a start, as for any transfer
  });

  it("seal.age fetched alone (range too) never uses maxDownloads up, and stays readable once it is used up, until the files are gone", async () => {
    const t = await sealed([bob, carol], [10_000], 4300, { maxDownloads: 1 });
    for (let i = 0; i < 3; i++) expect(await fetchAll(filePath(t, 1), carol)).toBe(200);
    expect(await fetchAll(filePath(t, 1), carol, { range: "bytes=0-99" })).toBe(206);
    await settle();
    expect((await getTransfer(alice, t.id)).downloads).toBe(0);

    // bob's start uses the one download up
    expect(await fetchAll(filePath(t, 0), bob)).toBe(200);
    expect((await getTransfer(alice, t.id)).downloads).toBe(1);
    const refused = await get(filePath(t, 0), carol);
    expect(refused.status).toBe(410);
    expect((await json(refused)).error.code).toBe("download_limit_reached");
    expect((await get(pkgPath(t), carol)).status).toBe(410);
    // carol (no start of her own) still reads seal.age with her token, and so does the sender
    const seal = await get(filePath(t, 1), carol);
    expect(seal.status).toBe(200);
    expect(new Uint8Array(await seal.arrayBuffer())).toEqual(bytes(4300, 39));
    expect(await fetchAll(filePath(t, 1), alice)).toBe(200);
    await settle();
    expect((await getTransfer(alice, t.id)).downloads).toBe(1);

    // once the hour to finish is over and the sweep has removed the files: 410 for it too
    await sweep(env, Date.now() + FINISH_MS + 1000);
    const gone = await get(filePath(t, 1), carol);
    expect(gone.status).toBe(410);
    expect((await json(gone)).error.code).toBe("download_limit_reached");
  });
});

describe("a sealed text (seal.age alone)", () => {
  it("is delivered by the ack of its transfer.ready, like any message; fetching seal.age or the package counts nothing", async () => {
    const sender = await openSocket(alice);
    const t = await sealed([bob], [], 4296);
    expect(t.files.map((f: any) => f.name)).toEqual(["seal.age"]);
    expect(await fetchAll(filePath(t, 0), bob)).toBe(200);
    expect(await fetchAll(pkgPath(t), bob)).toBe(200);
    await settle();
    let x = await getTransfer(alice, t.id);
    expect(x.downloads).toBe(0);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(x.status).toBe("ready");
    expect(await receipts(t)).toEqual([]);

    const b = await openSocket(bob);
    const ready = await frame(b, (m) => m.id === `${t.id}.ready`);
    expect(ready.type).toBe("transfer.ready");
    b.ack(ready.id);
    const receipt = await frame(sender, (m) => m.type === "transfer.downloaded" && m.transferId === t.id);
    expect(receipt).toMatchObject({ by: bob.id });
    x = await eventually(async () => {
      const y = await getTransfer(alice, t.id);
      return y.status === "delivered" ? y : undefined;
    });
    expect(x.downloads).toBe(1);
    expect(x.recipients[0].downloadedAt).toBe(receipt.at);
    for (const s of [sender, b]) s.close();
  });

  it("a sealed transfer with files is not delivered by its ack", async () => {
    const t = await sealed([carol], [300]);
    const c = await openSocket(carol);
    const ready = await frame(c, (m) => m.id === `${t.id}.ready`);
    c.ack(ready.id);
    // the ack was taken (the outbox says so) before asserting that it delivered nothing
    await eventually(async () => ((await outboxOf(carol.id)).find((r) => r.id === ready.id)?.acked_at ? true : undefined), 5_000, "the ack taken");
    await settle();
    const x = await getTransfer(alice, t.id);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(x.downloads).toBe(0);
    c.close();
  });
});
