import { beforeAll, describe, expect, it } from "vitest";
import { sweep } from "../../src/expire";
import { FINISH_MS } from "../../src/config";
import { packageTransfer } from "../../src/package/consumer";
import {
  api,
  trackedRequests,
  bigBytes,
  bytes,
  createTransfer,
  env,
  eventually,
  getTransfer,
  json,
  outboxOf,
  register,
  sendFiles,
  sha256,
  stageTransfer,
  type TestTerminal,
} from "./helpers";

/**
 * Contract v1.2: a recipient has a transfer once every file's bytes have been served to it (as
 * the package or file by file, whole or resumed); maxDownloads counts starts (a response from
 * byte 0 of the package or of a file) and lets the recipient of a start finish it for an hour;
 * POST /v1/transfers/{id}/opened.
 */

let alice: TestTerminal;
let bob: TestTerminal;
let carol: TestTerminal;
let dave: TestTerminal;

beforeAll(async () => {
  [alice, bob, carol, dave] = await Promise.all([register("Alice"), register("Bob"), register("Carol"), register("Dave")]);
});

const requests = trackedRequests();
const get = (path: string, who: TestTerminal | null, headers: Record<string, string> = {}, method = "GET") =>
  requests.fetch(path, { method, headers: { ...(who ? who.auth : {}), ...headers } });
const filePath = (t: any, i: number) => `/v1/transfers/${t.id}/files/${i}`;
const pkgPath = (t: any) => `/v1/transfers/${t.id}/package`;
/** GET, read the whole body, return the status */
const fetchAll = async (path: string, who: TestTerminal | null, headers: Record<string, string> = {}) => {
  const res = await get(path, who, headers);
  await res.arrayBuffer();
  return res.status;
};
const receipts = async (t: any) => (await outboxOf(alice.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.downloaded");
/** every request so far has recorded what it served: an assertion of "nothing counted" after it can fail */
const settle = () => requests.settled();
/** the transfer as the sender sees it once `who` (a recipient, by position) has it */
const deliveredTo = (t: any, position = 0) =>
  eventually(async () => {
    const x = await getTransfer(alice, t.id);
    return x.recipients[position].downloadedAt ? x : undefined;
  }, 10_000, `recipient ${position} has ${t.id}`);
const dataOffset = async (t: any, idx: number) =>
  (await env.DB.prepare("SELECT data_offset FROM transfer_files WHERE transfer_id = ? AND idx = ?").bind(t.id, idx).first<number>("data_offset"))!;

describe("a recipient has a transfer once every file's bytes were served to it", () => {
  it("file by file: each of two files fetched whole → downloadedAt, delivered, one transfer.downloaded", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "a.bin", data: bytes(40_000, 1) }, { name: "b.txt", data: bytes(900, 2) }]);
    expect(await fetchAll(filePath(t, 0), bob)).toBe(200);
    await settle();
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    expect(await receipts(t)).toEqual([]);
    // the second file by the signed link a recipient is given (no header)
    const link = new URL((await getTransfer(bob, t.id)).files[1].downloadUrl);
    expect(await fetchAll(link.pathname + link.search, null)).toBe(200);
    const x = await deliveredTo(t);
    expect(x.status).toBe("delivered");
    const r = await eventually(async () => ((await receipts(t)).length === 1 ? await receipts(t) : undefined));
    expect(r[0]!.id).toBe(`${t.id}.downloaded.${bob.id}`);
    expect(r[0]!.body).toMatchObject({ type: "transfer.downloaded", transferId: t.id, by: bob.id, at: x.recipients[0].downloadedAt });
    // fetching them again, or the package, sends no second receipt
    expect(await fetchAll(filePath(t, 0), bob)).toBe(200);
    expect(await fetchAll(pkgPath(t), bob)).toBe(200);
    await settle();
    expect(await receipts(t)).toHaveLength(1);
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBe(x.recipients[0].downloadedAt);
  });

  it("a one-file transfer: GET …/files/0 whole is a delivery; the sender's own fetch is not", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "photo.jpg", data: bytes(70_000, 3), type: "image/jpeg" }]);
    expect(await fetchAll(filePath(t, 0), alice)).toBe(200);
    expect(await fetchAll(filePath(t, 0), carol)).toBe(200);
    const x = await deliveredTo(t, 1);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(x.status).toBe("ready");
    expect(x.downloads).toBe(1); // carol's start; the sender's fetch counts for nothing
    const r = await eventually(async () => ((await receipts(t)).length === 1 ? await receipts(t) : undefined));
    expect(r[0]!.body.by).toBe(carol.id);
  });

  it("a one-file transfer of an empty file: its files/0 (no bytes) is a delivery", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "empty.txt", data: new Uint8Array(0) }]);
    const res = await get(filePath(t, 0), bob);
    expect(res.status).toBe(200);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
    expect((await deliveredTo(t)).status).toBe("delivered");
  });

  it("a file resumed with Range counts: 0-999, then the rest", async () => {
    const data = bytes(30_000, 4);
    const t = await sendFiles(alice, [bob], [{ name: "r.bin", data }, { name: "s.bin", data: bytes(500, 5) }]);
    expect(await fetchAll(filePath(t, 1), bob)).toBe(200);
    const head = await get(filePath(t, 0), bob, { range: "bytes=0-999" });
    expect(head.status).toBe(206);
    await head.arrayBuffer();
    await settle();
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    const rest = await get(filePath(t, 0), bob, { range: "bytes=1000-" });
    expect(rest.status).toBe(206);
    expect(new Uint8Array(await rest.arrayBuffer())).toEqual(data.subarray(1000));
    const x = await deliveredTo(t);
    expect(x.status).toBe("delivered");
    expect(x.downloads).toBe(2); // files/1 and files/0 from byte 0; the resume is no start
  });

  it("a file cut off mid-response: what the client has is recorded, the cut alone does not deliver, and resuming from there does", async () => {
    const data = bigBytes(6 * 1024 * 1024, 6);
    const t = await sendFiles(alice, [bob], [{ name: "cut.bin", data }]);
    const res = await get(filePath(t, 0), bob);
    const reader = res.body!.getReader();
    let read = 0;
    while (read < 100_000) read += (await reader.read()).value!.byteLength;
    await reader.cancel();
    const served = () => env.DB.prepare("SELECT served_to FROM served WHERE transfer_id = ? AND terminal_id = ?").bind(t.id, bob.id).first<number>("served_to");
    const prefix = (await eventually(async () => (((await served()) ?? 0) > 0 ? served() : undefined)))!;
    expect(prefix).toBeGreaterThanOrEqual(read);
    expect(prefix).toBeLessThan(data.byteLength);
    await settle();
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    const rest = await get(filePath(t, 0), bob, { range: `bytes=${read}-` });
    expect(rest.status).toBe(206);
    expect((await rest.arrayBuffer()).byteLength).toBe(data.byteLength - read);
    expect((await deliveredTo(t)).downloads).toBe(1);
  });

  it("as the package and file by file mixed: the package up to the end of file 0, then files/1 whole", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "one.bin", data: bytes(20_000, 7) }, { name: "two.bin", data: bytes(20_000, 8) }]);
    const end0 = (await dataOffset(t, 0)) + 20_000;
    expect(await fetchAll(pkgPath(t), bob, { range: `bytes=0-${end0 - 1}` })).toBe(206);
    await settle();
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    expect(await fetchAll(filePath(t, 1), bob)).toBe(200);
    expect((await deliveredTo(t)).status).toBe("delivered");
  });

  it("a reader peeking at the ZIP's end record, and every file but its last byte, do not count", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "p.bin", data: bytes(10_000, 9) }, { name: "q.bin", data: bytes(10_000, 10) }]);
    const size = t.package.size;
    const end1 = (await dataOffset(t, 1)) + 10_000;
    // the end record, the central directory and manifest (all after the last file's bytes)
    for (const range of ["bytes=-22", "bytes=-1", `bytes=${end1}-`]) expect(await fetchAll(pkgPath(t), bob, { range })).toBe(206);
    // each file but its last byte, by file and by package
    expect(await fetchAll(filePath(t, 0), bob, { range: "bytes=0-9998" })).toBe(206);
    expect(await fetchAll(pkgPath(t), bob, { range: `bytes=${await dataOffset(t, 1)}-${end1 - 2}` })).toBe(206);
    await settle();
    let x = await getTransfer(alice, t.id);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(await receipts(t)).toEqual([]);
    // the last byte of each completes it
    expect(await fetchAll(filePath(t, 0), bob, { range: "bytes=9999-" })).toBe(206);
    expect(await fetchAll(pkgPath(t), bob, { range: `bytes=${end1 - 1}-${size - 1}` })).toBe(206);
    x = await deliveredTo(t);
    expect(x.status).toBe("delivered");
  });

  it("the package downloaded whole, cut off and resumed, still counts (cut inside the last file's part)", async () => {
    const data = bigBytes(5 * 1024 * 1024, 11);
    const t = await stageTransfer(alice, [bob], [{ name: "small.txt", data: bytes(100, 12) }, { name: "last.bin", data }]);
    await packageTransfer(env, t.id);
    const off = await dataOffset(t, 1);
    const res = await get(pkgPath(t), bob);
    const reader = res.body!.getReader();
    const got: Uint8Array[] = [];
    let read = 0;
    while (read < off + 1_000_000) {
      const v = (await reader.read()).value!;
      got.push(v);
      read += v.byteLength;
    }
    await reader.cancel();
    await settle();
    // credited up to the end of the part it was sending, but that part's last byte: not delivered
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    const rest = await get(pkgPath(t), bob, { range: `bytes=${read}-` });
    expect(rest.status).toBe(206);
    const all = new Uint8Array(read + Number(rest.headers.get("content-length")));
    let o = 0;
    for (const c of [...got, new Uint8Array(await rest.arrayBuffer())]) {
      all.set(c, o);
      o += c.byteLength;
    }
    const pkg = await getTransfer(alice, t.id);
    expect(await sha256(all)).toBe(pkg.package.sha256);
    expect((await deliveredTo(t)).downloads).toBe(1);
  });

  it("a package cut off once its progress was recorded ahead past file 0: file 1 alone does not deliver it (file 0 was not all sent); resuming the package does", async () => {
    const big = bigBytes(40 * 1024 * 1024, 13);
    const t = await stageTransfer(alice, [bob], [{ name: "big.bin", data: big }, { name: "small.bin", data: bytes(1000, 14) }]);
    await packageTransfer(env, t.id);
    const off = await dataOffset(t, 0);
    const res = await get(pkgPath(t), bob);
    const reader = res.body!.getReader();
    let read = 0;
    while (read < off + 16 * 1024 * 1024 + 10) read += (await reader.read()).value!.byteLength;
    await reader.cancel();
    const row = (idx: number) =>
      env.DB.prepare("SELECT served_to, has_to FROM served WHERE transfer_id = ? AND terminal_id = ? AND idx = ?").bind(t.id, bob.id, idx).first<{ served_to: number; has_to: number }>();
    // recorded ahead (for a resume after a crash) to the end of file 0 and beyond; had: less
    const r0 = (await eventually(async () => ((await row(0))?.served_to === big.byteLength ? row(0) : undefined)))!;
    expect(r0.has_to).toBeLessThan(big.byteLength);
    expect(off + r0.has_to).toBeLessThanOrEqual(read + 16 * 1024 * 1024);
    expect(await fetchAll(filePath(t, 1), bob)).toBe(200);
    await settle();
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    expect(await receipts(t)).toEqual([]);
    // the rest of the package from what he has: now he has every byte
    const rest = await get(pkgPath(t), bob, { range: `bytes=${read}-` });
    expect(rest.status).toBe(206);
    await rest.arrayBuffer();
    expect((await deliveredTo(t)).downloads).toBe(2); // the package and file 1 from byte 0
  });
});

describe("maxDownloads counts starts", () => {
  it("maxDownloads 1: files/0 is a start; a second start → 410; the starter resumes within the hour (206), not after it; others → 410", async () => {
    const data = bytes(50_000, 20);
    const t = await sendFiles(alice, [bob, carol], [{ name: "one.bin", data }, { name: "two.bin", data: bytes(800, 21) }], { maxDownloads: 1 });
    const before = Date.now();
    const first = await get(filePath(t, 0), bob, { range: "bytes=0-9999" });
    expect(first.status).toBe(206);
    await first.arrayBuffer();
    let x = await getTransfer(alice, t.id);
    expect(x.downloads).toBe(1);
    // the start that used it up: the files stay at most an hour more (the window to finish it)
    expect(Date.parse(x.expiresAt)).toBeLessThanOrEqual(Date.now() + FINISH_MS);
    expect(Date.parse(x.expiresAt)).toBeGreaterThanOrEqual(before + FINISH_MS - 1000);
    expect(x.status).toBe("ready");

    const refused = async (path: string, who: TestTerminal, headers: Record<string, string> = {}) => {
      const res = await get(path, who, headers);
      expect(res.status, `${who.name} ${path} ${JSON.stringify(headers)}`).toBe(410);
      expect((await json(res)).error.code).toBe("download_limit_reached");
    };
    // another start from byte 0, by anyone (bob too), of the package or of any file
    await refused(pkgPath(t), bob);
    await refused(filePath(t, 1), bob);
    await refused(filePath(t, 0), bob, { range: "bytes=0-" });
    await refused(pkgPath(t), carol);
    await refused(filePath(t, 0), carol);
    // another recipient's "resume" (it never started), as today's leak did
    await refused(pkgPath(t), carol, { range: "bytes=1-" });
    await refused(filePath(t, 0), carol, { range: "bytes=10000-" });
    expect((await getTransfer(carol, t.id)).downloadUrl).toBeNull();
    expect((await json(await api(`/v1/terminals/${carol.id}/inbox`, { headers: carol.auth }))).transfers.map((y: any) => y.id)).not.toContain(t.id);

    // bob finishes what he started, with Range: 206, not counted
    const rest = await get(filePath(t, 0), bob, { range: "bytes=10000-" });
    expect(rest.status).toBe(206);
    expect(new Uint8Array(await rest.arrayBuffer())).toEqual(data.subarray(10_000));
    expect((await getTransfer(bob, t.id)).downloadUrl).not.toBeNull();
    expect((await json(await api(`/v1/terminals/${bob.id}/inbox`, { headers: bob.auth }))).transfers.map((y: any) => y.id)).toContain(t.id);
    x = await getTransfer(alice, t.id);
    expect(x.downloads).toBe(1);

    // an hour after his start: 410 for him too
    await env.DB.prepare(`UPDATE recipients SET started_at = started_at - ${FINISH_MS} WHERE transfer_id = ? AND terminal_id = ?`).bind(t.id, bob.id).run();
    await refused(filePath(t, 0), bob, { range: "bytes=20000-" });
    await refused(pkgPath(t), bob, { range: "bytes=100-" });
    expect((await getTransfer(bob, t.id)).downloadUrl).toBeNull();

    // and the sweep removes the files once the hour is over
    await sweep(env, Date.now() + FINISH_MS + 1000);
    x = await getTransfer(alice, t.id);
    expect(x.status).toBe("expired");
    await refused(filePath(t, 0), bob, { range: "bytes=20000-" });
  });

  it("the package from byte 0 is a start; the starter finishes it with Range; a peek at the end record is no start", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "z.bin", data: bytes(20_000, 22) }], { maxDownloads: 1 });
    // peeks (no byte 0) are not starts: the one download is still there to take
    for (const range of ["bytes=-22", `bytes=${t.package.size - 100}-`]) expect(await fetchAll(pkgPath(t), carol, { range })).toBe(206);
    expect((await getTransfer(alice, t.id)).downloads).toBe(0);
    const head = await get(pkgPath(t), bob, { range: "bytes=0-4999" });
    expect(head.status).toBe(206);
    const a = new Uint8Array(await head.arrayBuffer());
    const tail = await get(pkgPath(t), bob, { range: "bytes=5000-" });
    expect(tail.status).toBe(206);
    const b = new Uint8Array(await tail.arrayBuffer());
    const all = new Uint8Array(a.byteLength + b.byteLength);
    all.set(a);
    all.set(b, a.byteLength);
    expect(await sha256(all)).toBe(t.package.sha256);
    const x = await deliveredTo(t);
    expect(x.downloads).toBe(1);
    // delivered to bob, but carol can no longer start (nor peek: it is used up)
    expect((await get(pkgPath(t), carol)).status).toBe(410);
    expect((await get(pkgPath(t), carol, { range: "bytes=-22" })).status).toBe(410);
  });

  it("two starts at once for the last download: exactly one is served", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "race.bin", data: bytes(10_000, 23) }], { maxDownloads: 1 });
    const statuses = await Promise.all([fetchAll(pkgPath(t), bob), fetchAll(filePath(t, 0), carol)]);
    expect(statuses.sort()).toEqual([200, 410]);
    expect((await getTransfer(alice, t.id)).downloads).toBe(1);
  });

  it("without maxDownloads, starts are counted and nothing is refused", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "free.bin", data: bytes(5000, 24) }]);
    for (let i = 0; i < 3; i++) expect(await fetchAll(filePath(t, 0), bob)).toBe(200);
    expect(await fetchAll(pkgPath(t), bob, { range: "bytes=10-" })).toBe(206);
    const x = await getTransfer(alice, t.id);
    expect(x.downloads).toBe(3);
    expect(x.maxDownloads).toBeNull();
  });
});

describe("POST /v1/transfers/{id}/opened", () => {
  const opened = (t: any, who: TestTerminal | null) => api(`/v1/transfers/${t.id}/opened`, { method: "POST", headers: who ? who.auth : {} });
  const openedMessages = async (t: any) => (await outboxOf(alice.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.opened");

  it("204; openedAt set once; one transfer.opened to the sender; the ready message stays unacknowledged", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "look.txt", data: bytes(100, 30) }]);
    expect((await getTransfer(alice, t.id)).recipients.map((r: any) => r.openedAt)).toEqual([null, null]);
    const before = Date.now();
    const res = await opened(t, bob);
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    const x = await getTransfer(alice, t.id);
    const at = x.recipients[0].openedAt;
    expect(Date.parse(at)).toBeGreaterThanOrEqual(before - 5);
    expect(x.recipients[1].openedAt).toBeNull();
    expect(x.recipients[0].downloadedAt).toBeNull(); // opening is not downloading

    const msgs = await openedMessages(t);
    expect(msgs).toHaveLength(1);
    expect(msgs[0]!.id).toBe(`${t.id}.opened.${bob.id}`);
    expect(msgs[0]!.body).toMatchObject({ type: "transfer.opened", id: `${t.id}.opened.${bob.id}`, by: bob.id });
    expect(msgs[0]!.body.transfer.id).toBe(t.id);
    expect(msgs[0]!.body.transfer.recipients[0]).toMatchObject({ id: bob.id, openedAt: at });
    expect(msgs[0]!.body.transfer.downloadUrl).toBeNull(); // the sender's view: no recipient's link

    // again: 204, nothing changes, nothing more is sent
    await new Promise((r) => setTimeout(r, 5));
    expect((await opened(t, bob)).status).toBe(204);
    expect((await getTransfer(alice, t.id)).recipients[0].openedAt).toBe(at);
    expect(await openedMessages(t)).toHaveLength(1);

    // the recipient's transfer.ready is still waiting for its ack (opening is not an ack)
    const ready = (await outboxOf(bob.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.ready");
    expect(ready).toHaveLength(1);
    expect(ready[0]!.acked_at).toBeNull();
    // the recipient itself sees its openedAt
    expect((await getTransfer(bob, t.id)).recipients[0].openedAt).toBe(at);

    // carol opens too: her own message
    expect((await opened(t, carol)).status).toBe(204);
    expect((await openedMessages(t)).map((m) => m.body.by).sort()).toEqual([bob.id, carol.id].sort());
  });

  it("a message without files can be opened as well", async () => {
    const res = await createTransfer(alice, { to: [bob.id], files: [], message: "hello" });
    const t = await json(res);
    expect((await opened(t, bob)).status).toBe(204);
    expect((await getTransfer(alice, t.id)).recipients[0].openedAt).not.toBeNull();
    expect(await openedMessages(t)).toHaveLength(1);
  });

  it("not for the sender or a stranger (403), nor without a token (401); an unknown id → 404", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "x.txt", data: bytes(10, 31) }]);
    for (const who of [alice, dave]) {
      const res = await opened(t, who);
      expect(res.status).toBe(403);
      expect((await json(res)).error.code).toBe("forbidden");
    }
    expect((await opened(t, null)).status).toBe(401);
    const unknown = await opened({ id: "AAAAAAAAAAAAAAAAAAAAAA" }, bob);
    expect(unknown.status).toBe(404);
    expect((await json(unknown)).error.code).toBe("transfer_not_found");
    // another method: 405, naming the one it takes
    const wrong = await api(`/v1/transfers/${t.id}/opened`, { headers: bob.auth });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
    expect((await getTransfer(alice, t.id)).recipients[0].openedAt).toBeNull();
    expect(await openedMessages(t)).toEqual([]);
  });
});
