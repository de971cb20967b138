import { beforeAll, describe, expect, it } from "vitest";
import { signDownload } from "../../src/auth/signing";
import { parseRange } from "../../src/deliver/range";
import { packageTransfer } from "../../src/package/consumer";
import { frameKey } from "../../src/store/keys";
import {
  api,
  bigBytes,
  bytes,
  createTransfer,
  dispositionName,
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

let alice: TestTerminal;
let bob: TestTerminal;
let carol: TestTerminal;
let dave: TestTerminal;
/** a ready transfer alice → bob, carol; only alice (the sender, not counted) downloads it */
let T: any;
let pkg: Uint8Array;
const files = [
  { name: "data.bin", data: bytes(200_000, 21) },
  { name: `Résumé "final"; 中文.txt`, data: new TextEncoder().encode("line\n".repeat(1000)) },
  { name: "empty.txt", data: new Uint8Array(0) },
];

beforeAll(async () => {
  [alice, bob, carol, dave] = await Promise.all([register("Alice"), register("Bob"), register("Carol"), register("Dave")]);
  T = await sendFiles(alice, [bob, carol], files);
  const res = await api(`/v1/transfers/${T.id}/package`, { headers: alice.auth });
  pkg = new Uint8Array(await res.arrayBuffer());
});

const pathOf = (url: string) => {
  const u = new URL(url);
  return u.pathname + u.search;
};
const get = (path: string, who: TestTerminal | null, headers: Record<string, string> = {}, method = "GET") =>
  api(path, { method, headers: { ...(who ? who.auth : {}), ...headers } });
const pkgPath = () => `/v1/transfers/${T.id}/package`;

async function expect416(res: Response, size: number) {
  expect(res.status).toBe(416);
  expect(res.headers.get("content-range")).toBe(`bytes */${size}`);
  expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
  expect((await json(res)).error.code).toBe("range_not_satisfiable");
}

describe("GET /v1/transfers/{id}/package", () => {
  it("200 with the whole package and the right headers", async () => {
    const res = await get(pkgPath(), alice);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/zip");
    expect(res.headers.get("content-length")).toBe(String(T.package.size));
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("etag")).toBe(`"${T.package.sha256}"`);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment; filename="pushdrop-[A-Za-z0-9_-]{8}\.zip"; filename\*=/);
    const body = new Uint8Array(await res.arrayBuffer());
    expect(body.byteLength).toBe(T.package.size);
    expect(await sha256(body)).toBe(T.package.sha256);
    expect(pkg.byteLength).toBe(T.package.size);
  });

  it("HEAD gives the headers and no body", async () => {
    const res = await get(pkgPath(), alice, {}, "HEAD");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe(String(T.package.size));
    expect(res.headers.get("etag")).toBe(`"${T.package.sha256}"`);
    expect((await res.arrayBuffer()).byteLength).toBe(0);
  });

  it("Range: bounded, open-ended, suffix, past the end (clipped) → 206 with Content-Range", async () => {
    const size = pkg.byteLength;
    const cases: Array<[string, number, number]> = [
      ["bytes=0-99", 0, 99],
      ["bytes=1000-1000", 1000, 1000],
      [`bytes=${size - 500}-`, size - 500, size - 1],
      ["bytes=-100", size - 100, size - 1],
      [`bytes=-${size + 1000}`, 0, size - 1],
      [`bytes=100-${size + 1000}`, 100, size - 1],
      ["bytes = 5-9", 5, 9],
      ["bytes=0-99999999999999999999", 0, size - 1], // a huge last-pos is valid, and clamped
    ];
    for (const [range, start, end] of cases) {
      const res = await get(pkgPath(), alice, { range });
      expect(res.status, range).toBe(206);
      expect(res.headers.get("content-range"), range).toBe(`bytes ${start}-${end}/${size}`);
      expect(res.headers.get("content-length"), range).toBe(String(end - start + 1));
      expect(res.headers.get("content-type")).toBe("application/zip");
      const body = new Uint8Array(await res.arrayBuffer());
      expect(await sha256(body), range).toBe(await sha256(pkg.subarray(start, end + 1)));
    }
  });

  it("several ranges are answered with the whole body (200)", async () => {
    const res = await get(pkgPath(), alice, { range: "bytes=0-1,10-20" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-range")).toBeNull();
    expect((await res.arrayBuffer()).byteLength).toBe(pkg.byteLength);
  });

  it("an unsatisfiable or malformed Range → 416 JSON with Content-Range: bytes */size", async () => {
    const size = pkg.byteLength;
    for (const range of [`bytes=${size}-`, `bytes=${size + 10}-${size + 20}`, "bytes=-0", "bytes=abc", "bytes=5-1", "bytes=-", "bytes=", "bytes=0-1-2", "0-1", `bytes=${"9".repeat(20)}-`]) {
      await expect416(await get(pkgPath(), alice, { range }), size);
    }
  });

  it("tells a malformed Range from one that is well-formed but outside the representation", () => {
    for (const [range, size] of [["bytes=10-", 10], ["bytes=0-", 0], ["bytes=-5", 0], ["bytes=20-30", 10]] as const) {
      expect(parseRange(range, size), `${range} of ${size}`).toEqual({ kind: "unsatisfiable" });
    }
    for (const range of ["bytes=5-1", "bytes=abc", "bytes=-", "0-1", "=0-1"]) expect(parseRange(range, 10), range).toEqual({ kind: "invalid" });
    // a unit other than bytes is ignored (RFC 9110 §14.2): the whole representation
    for (const range of ["items=0-1", "Pages = 1-2"]) expect(parseRange(range, 10), range).toEqual({ kind: "none" });
    expect(parseRange("bytes=9-", 10)).toEqual({ kind: "range", start: 9, end: 9 });
  });

  it("ETag + If-None-Match → 304; If-Range with another ETag → the whole body", async () => {
    const etag = `"${T.package.sha256}"`;
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, "*"]) {
      const res = await get(pkgPath(), alice, { "if-none-match": inm });
      expect(res.status, inm).toBe(304);
      expect(res.headers.get("etag")).toBe(etag);
      expect((await res.arrayBuffer()).byteLength).toBe(0);
    }
    const other = await get(pkgPath(), alice, { "if-none-match": '"something-else"' });
    expect(other.status).toBe(200);
    expect((await other.arrayBuffer()).byteLength).toBe(pkg.byteLength);

    const stale = await get(pkgPath(), alice, { range: "bytes=0-9", "if-range": '"an-old-etag"' });
    expect(stale.status).toBe(200);
    expect(stale.headers.get("content-length")).toBe(String(pkg.byteLength));
    expect(await sha256(await stale.arrayBuffer())).toBe(T.package.sha256);
    const fresh = await get(pkgPath(), alice, { range: "bytes=0-9", "if-range": etag });
    expect(fresh.status).toBe(206);
    expect((await fresh.arrayBuffer()).byteLength).toBe(10);
  });

  it("access: no token → 401, a stranger → 403, an unknown id → 404, not ready → 409", async () => {
    expect((await get(pkgPath(), null)).status).toBe(401);
    const stranger = await get(pkgPath(), dave);
    expect(stranger.status).toBe(403);
    expect((await get(`/v1/transfers/AAAAAAAAAAAAAAAAAAAAAA/package`, bob)).status).toBe(404);
    const uploading = await json(await createTransfer(alice, { to: [bob.id], files: [{ name: "later.txt", size: 5 }] }));
    const res = await get(`/v1/transfers/${uploading.id}/package`, bob);
    expect(res.status).toBe(409);
    expect((await json(res)).error.code).toBe("not_ready");
    expect((await get(`/v1/transfers/${uploading.id}/files/0`, bob)).status).toBe(409);
  });
});

describe("GET /v1/transfers/{id}/files/{index}", () => {
  it("returns each file's original bytes, with its own type, ETag and filename", async () => {
    for (let i = 0; i < files.length; i++) {
      const res = await get(`/v1/transfers/${T.id}/files/${i}`, alice);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-length")).toBe(String(files[i]!.data.byteLength));
      expect(res.headers.get("etag")).toBe(`"${await sha256(files[i]!.data)}"`);
      expect(res.headers.get("content-type")).toBe(T.files[i].type);
      expect(res.headers.get("accept-ranges")).toBe("bytes");
      expect(dispositionName(res.headers.get("content-disposition"))).toBe(files[i]!.name);
      expect(await sha256(await res.arrayBuffer())).toBe(await sha256(files[i]!.data));
    }
    expect(T.files[1].type).toBe("text/plain");
  });

  it("a Range is relative to the file, not the package", async () => {
    const data = files[0]!.data;
    let res = await get(`/v1/transfers/${T.id}/files/0`, alice, { range: "bytes=100-199" });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 100-199/${data.byteLength}`);
    expect(await sha256(await res.arrayBuffer())).toBe(await sha256(data.subarray(100, 200)));
    res = await get(`/v1/transfers/${T.id}/files/0`, alice, { range: "bytes=-10" });
    expect(res.headers.get("content-range")).toBe(`bytes ${data.byteLength - 10}-${data.byteLength - 1}/${data.byteLength}`);
    expect(await sha256(await res.arrayBuffer())).toBe(await sha256(data.subarray(data.byteLength - 10)));
    // the file's last byte is not the package's
    res = await get(`/v1/transfers/${T.id}/files/1`, alice, { range: `bytes=${files[1]!.data.byteLength}-` });
    await expect416(res, files[1]!.data.byteLength);
    // an empty file: 200 with nothing; any range is unsatisfiable
    res = await get(`/v1/transfers/${T.id}/files/2`, alice);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-length")).toBe("0");
    await expect416(await get(`/v1/transfers/${T.id}/files/2`, alice, { range: "bytes=0-" }), 0);
    // If-None-Match works per file
    const etag = `"${await sha256(data)}"`;
    expect((await get(`/v1/transfers/${T.id}/files/0`, alice, { "if-none-match": etag })).status).toBe(304);
  });

  it("a package whose frame object is gone → 410 transfer_expired (its parts, fetched meanwhile, are let go); a file of it still downloads", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "x.bin", data: bytes(300_000, 7) }]);
    await env.BUCKET.delete(frameKey(t.id));
    const res = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    expect(res.status).toBe(410);
    expect((await json(res)).error.code).toBe("transfer_expired");
    const one = await api(`/v1/transfers/${t.id}/files/0`, { headers: bob.auth });
    expect(one.status).toBe(200);
    expect(new Uint8Array(await one.arrayBuffer())).toEqual(bytes(300_000, 7));
  });

  it("an unknown index → 404", async () => {
    for (const idx of ["3", "99", "abc", "-1"]) {
      const res = await get(`/v1/transfers/${T.id}/files/${idx}`, bob);
      expect(res.status, idx).toBe(404);
      expect((await json(res)).error.code).toBe("file_not_found");
    }
  });
});

describe("signed download links", () => {
  it("a recipient's downloadUrl works with no headers at all; the sender gets none", async () => {
    const seen = await getTransfer(carol, T.id);
    expect(seen.downloadUrl).toMatch(/^https:\/\/pushdrop\.test\/v1\/transfers\/.+\/package\?/);
    const exp = Number(new URL(seen.downloadUrl).searchParams.get("exp"));
    expect(exp * 1000).toBeLessThanOrEqual(Date.parse(seen.expiresAt));
    expect(exp * 1000).toBeGreaterThan(Date.now());
    // a file link, no headers (so it does not count as the package download)
    const res = await api(pathOf(seen.files[0].downloadUrl));
    expect(res.status).toBe(200);
    expect(await sha256(await res.arrayBuffer())).toBe(await sha256(files[0]!.data));
    // the package link answers a range, still with no auth header
    const part = await api(pathOf(seen.downloadUrl), { headers: { range: "bytes=0-3" } });
    expect(part.status).toBe(206);
    expect([...new Uint8Array(await part.arrayBuffer())]).toEqual([0x50, 0x4b, 0x03, 0x04]);
    const mine = await getTransfer(alice, T.id);
    expect(mine.downloadUrl).toBeNull();
    expect(mine.files[0].downloadUrl).toBeNull();
  });

  it("a tampered link, or one for another transfer or terminal → 403 invalid_link", async () => {
    const url = new URL((await getTransfer(carol, T.id)).downloadUrl);
    const q = url.searchParams;
    const sig = q.get("sig")!;
    const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
    const variants: Array<Record<string, string>> = [
      { r: q.get("r")!, exp: q.get("exp")!, sig: flip(sig, 10) },
      { r: q.get("r")!, exp: String(Number(q.get("exp")) + 1), sig },
      { r: bob.id, exp: q.get("exp")!, sig },
      { r: q.get("r")!, exp: q.get("exp")! },
      { r: q.get("r")!, exp: q.get("exp")!, sig: sig + "A" },
      { r: q.get("r")!, exp: "soon", sig },
    ];
    for (const v of variants) {
      const res = await api(`${url.pathname}?${new URLSearchParams(v)}`);
      expect(res.status, JSON.stringify(v)).toBe(403);
      expect((await json(res)).error.code).toBe("invalid_link");
    }
    // carol's valid link for T does not open another transfer carol also received
    const other = await sendFiles(alice, [carol], [{ name: "o.txt", data: bytes(10) }]);
    const res = await api(`/v1/transfers/${other.id}/package?${q}`);
    expect(res.status).toBe(403);
    // a correctly signed link for someone who is not a recipient (the sender) is refused too
    const forSender = await signDownload(env.SIGNING_KEY, T.id, alice.id, 1, Math.floor(Date.now() / 1000) + 600);
    expect((await api(`${url.pathname}?${forSender}`)).status).toBe(403);
    // a valid link with a stranger's token attached still works: the link decides
    const withToken = await api(`${url.pathname}?${q}`, { headers: { ...dave.auth, range: "bytes=0-0" } });
    expect(withToken.status).toBe(206);
  });

  it("an expired link → 410 link_expired", async () => {
    const past = Math.floor(Date.now() / 1000) - 5;
    const link = await signDownload(env.SIGNING_KEY, T.id, carol.id, 1, past);
    const res = await api(`/v1/transfers/${T.id}/package?${link}`);
    expect(res.status).toBe(410);
    expect((await json(res)).error.code).toBe("link_expired");
    expect((await api(`/v1/transfers/${T.id}/files/0?${link}`)).status).toBe(410);
  });
});

describe("delivery receipts", () => {
  it("a complete download sets downloadedAt, sends the receipt, and the last one makes it delivered", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "r.bin", data: bytes(50_000, 30) }, { name: "s.txt", data: bytes(300, 34) }]);
    const path = `/v1/transfers/${t.id}/package`;
    const size = t.package.size;
    const receipts = async () => (await outboxOf(alice.id)).filter((r) => r.transfer_id === t.id && r.type === "transfer.downloaded");

    // the sender's own download, HEAD, a partial range, 304s and one file of two are not
    // deliveries; the partial range and the file, from byte 0, are starts (downloads counts them)
    await (await get(path, alice)).arrayBuffer();
    await (await get(path, bob, {}, "HEAD")).arrayBuffer();
    const partial = await get(path, carol, { range: "bytes=0-99" });
    expect(partial.status).toBe(206);
    await partial.arrayBuffer();
    expect((await get(path, bob, { "if-none-match": `"${t.package.sha256}"` })).status).toBe(304);
    await (await get(`/v1/transfers/${t.id}/files/0`, bob)).arrayBuffer();
    await new Promise((r) => setTimeout(r, 200));
    let now = await getTransfer(alice, t.id);
    expect(now.recipients.map((r: any) => r.downloadedAt)).toEqual([null, null]);
    expect(now.downloads).toBe(2);
    expect(await receipts()).toEqual([]);

    // bob, by his signed link, the whole package
    const link = pathOf((await getTransfer(bob, t.id)).downloadUrl);
    const full = await api(link);
    expect(full.status).toBe(200);
    expect(await sha256(await full.arrayBuffer())).toBe(t.package.sha256);
    now = await eventually(async () => {
      const x = await getTransfer(alice, t.id);
      return x.recipients[0].downloadedAt ? x : undefined;
    });
    expect(now.recipients[0].id).toBe(bob.id);
    expect(Date.parse(now.recipients[0].downloadedAt)).toBeGreaterThan(Date.parse(t.createdAt));
    expect(now.recipients[1].downloadedAt).toBeNull();
    expect(now.status).toBe("ready");
    const r1 = await eventually(async () => ((await receipts()).length === 1 ? await receipts() : undefined));
    expect(r1[0]!.id).toBe(`${t.id}.downloaded.${bob.id}`);
    expect(r1[0]!.body).toMatchObject({ type: "transfer.downloaded", transferId: t.id, by: bob.id });
    expect(r1[0]!.body.at).toBe(now.recipients[0].downloadedAt);

    // bob again: a start, but no second receipt
    await (await get(path, bob)).arrayBuffer();
    expect((await getTransfer(alice, t.id)).downloads).toBe(4);
    await new Promise((r) => setTimeout(r, 200));
    expect(await receipts()).toHaveLength(1);

    // carol resumes: the rest of the package from byte 100 completes her download
    const rest = await get(path, carol, { range: "bytes=100-" });
    expect(rest.status).toBe(206);
    expect(rest.headers.get("content-range")).toBe(`bytes 100-${size - 1}/${size}`);
    await rest.arrayBuffer();
    const delivered = await eventually(async () => {
      const x = await getTransfer(alice, t.id);
      return x.status === "delivered" ? x : undefined;
    });
    expect(delivered.recipients.every((r: any) => r.downloadedAt !== null)).toBe(true);
    // starts: carol's 0-99, bob's file and his two packages; carol's resume is not one
    expect(delivered.downloads).toBe(4);
    const all = await eventually(async () => ((await receipts()).length === 2 ? await receipts() : undefined));
    expect(all.map((r) => r.body.by).sort()).toEqual([bob.id, carol.id].sort());
    // delivered is still downloadable until it expires
    expect((await get(path, bob, { range: "bytes=0-0" })).status).toBe(206);
  });

  it("a download the client abandons half way does not count", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "big.bin", data: bigBytes(6 * 1024 * 1024, 31) }]);
    const res = await get(`/v1/transfers/${t.id}/package`, bob);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 300));
    const x = await getTransfer(alice, t.id);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(x.downloads).toBe(1); // it started
    expect((await outboxOf(alice.id)).filter((r) => r.type === "transfer.downloaded" && r.transfer_id === t.id)).toEqual([]);
    // a whole download afterwards delivers it
    await (await get(`/v1/transfers/${t.id}/package`, bob)).arrayBuffer();
    const after = await eventually(async () => {
      const y = await getTransfer(alice, t.id);
      return y.status === "delivered" ? y : undefined;
    });
    expect(after.downloads).toBe(2);
  });

  /**
   * Bob reads the package of one file of `data` until he has at least `cutAt(dataOffset)` bytes
   * and goes away; the file's recorded prefix (where a resume may start) must cover all he got
   * of it, and what he is recorded to have must stop short of its end (only whole pieces sent
   * count). Resuming from what he has (`Range: bytes=<read>-`) then completes the download, and
   * the resume is not a new start.
   */
  async function cutAndResume(name: string, data: Uint8Array, cutAt: (dataOffset: number) => number): Promise<void> {
    const t = await stageTransfer(alice, [bob], [{ name, data }]);
    await packageTransfer(env, t.id);
    const dataOffset = (await env.DB.prepare("SELECT data_offset FROM transfer_files WHERE transfer_id = ?").bind(t.id).first<number>("data_offset"))!;
    const packageSize = (await env.DB.prepare("SELECT package_size FROM transfers WHERE id = ?").bind(t.id).first<number>("package_size"))!;
    const served = () => env.DB.prepare("SELECT served_to FROM served WHERE transfer_id = ? AND terminal_id = ? AND idx = 0").bind(t.id, bob.id).first<number>("served_to");
    const has = () => env.DB.prepare("SELECT has_to FROM served WHERE transfer_id = ? AND terminal_id = ? AND idx = 0").bind(t.id, bob.id).first<number>("has_to");
    const res = await get(`/v1/transfers/${t.id}/package`, bob);
    const reader = res.body!.getReader();
    let read = 0;
    while (read < cutAt(dataOffset)) read += (await reader.read()).value!.byteLength;
    await reader.cancel();
    const prefix = (await eventually(async () => (((await served()) ?? 0) > 0 ? served() : undefined)))!;
    expect(dataOffset + prefix).toBeGreaterThanOrEqual(read);
    expect(await has()).toBeLessThan(data.byteLength);
    expect((await getTransfer(alice, t.id)).recipients[0].downloadedAt).toBeNull();
    expect((await getTransfer(alice, t.id)).downloads).toBe(1);
    const rest = await get(`/v1/transfers/${t.id}/package`, bob, { range: `bytes=${read}-` });
    expect(rest.status).toBe(206);
    expect((await rest.arrayBuffer()).byteLength).toBe(packageSize - read);
    const x = await eventually(async () => {
      const y = await getTransfer(alice, t.id);
      return y.status === "delivered" ? y : undefined;
    });
    expect(x.downloads).toBe(1);
  }

  it("a download cut off inside a part: the recorded prefix covers what the client got, and resuming from there completes it", async () => {
    // three part objects; the header run and the whole first part go out, and past 16 MiB the
    // prefix is recorded ahead of the bytes (src/deliver/progress.ts)
    await cutAndResume("two-parts.bin", bigBytes(40 * 1024 * 1024, 32), (dataOffset) => dataOffset + 16 * 1024 * 1024 + 10);
  });

  it("a download cut off early, inside its first part: resuming from what the client has still counts, and the cut alone does not", async () => {
    // one part, under the first checkpoint: no record ahead; the cut is credited to the end of
    // the piece it was sending (never the last byte), so what the client has is inside
    await cutAndResume("photo.bin", bigBytes(10 * 1024 * 1024, 33), () => 1_000_000);
  });

  it("maxDownloads is enforced: 410 once used up (a start from byte 0 counts at once)", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "once.txt", data: bytes(1000, 40) }], { maxDownloads: 1 });
    const path = `/v1/transfers/${t.id}/package`;
    expect(t.maxDownloads).toBe(1);
    const first = await get(path, bob);
    expect(first.status).toBe(200);
    expect((await getTransfer(alice, t.id)).downloads).toBe(1);
    await first.arrayBuffer();
    for (const who of [carol, bob]) {
      const res = await get(path, who);
      expect(res.status).toBe(410);
      expect((await json(res)).error.code).toBe("download_limit_reached");
    }
    expect((await get(`/v1/transfers/${t.id}/files/0`, carol)).status).toBe(410);
  });

  it("reading only the end of the package (as zip readers do first) neither counts nor uses up maxDownloads", async () => {
    const t = await sendFiles(alice, [bob], [{ name: "end.txt", data: bytes(5000, 41) }], { maxDownloads: 1 });
    const path = `/v1/transfers/${t.id}/package`;
    for (const range of ["bytes=-1", "bytes=-22", `bytes=${t.package.size - 100}-`]) {
      const res = await get(path, bob, { range });
      expect(res.status).toBe(206);
      await res.arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 300));
    let x = await getTransfer(alice, t.id);
    expect(x.recipients[0].downloadedAt).toBeNull();
    expect(x.downloads).toBe(0);
    expect(x.status).toBe("ready");
    expect((await outboxOf(alice.id)).filter((r) => r.type === "transfer.downloaded" && r.transfer_id === t.id)).toEqual([]);
    // the real download still works, and counts
    const full = await get(path, bob);
    expect(full.status).toBe(200);
    expect(await sha256(await full.arrayBuffer())).toBe(t.package.sha256);
    x = await eventually(async () => {
      const y = await getTransfer(alice, t.id);
      return y.status === "delivered" ? y : undefined;
    });
    expect(x.downloads).toBe(1);
  });

  it("a download resumed in pieces counts once its pieces reach the end from byte 0; a gap does not", async () => {
    const t = await sendFiles(alice, [bob, carol], [{ name: "pieces.bin", data: bytes(30_000, 42) }]);
    const path = `/v1/transfers/${t.id}/package`;
    const size = t.package.size;
    // carol: a gap (0-99, then 200-end) does not deliver it
    await (await get(path, carol, { range: "bytes=0-99" })).arrayBuffer();
    await (await get(path, carol, { range: "bytes=200-" })).arrayBuffer();
    // bob: 0-999, 1000-1999, then the rest
    await (await get(path, bob, { range: "bytes=0-999" })).arrayBuffer();
    await (await get(path, bob, { range: "bytes=1000-1999" })).arrayBuffer();
    await new Promise((r) => setTimeout(r, 200));
    expect((await getTransfer(alice, t.id)).recipients.map((r: any) => r.downloadedAt)).toEqual([null, null]);
    await (await get(path, bob, { range: `bytes=2000-${size - 1}` })).arrayBuffer();
    const x = await eventually(async () => {
      const y = await getTransfer(alice, t.id);
      return y.recipients[0].downloadedAt ? y : undefined;
    });
    expect(x.recipients[1].downloadedAt).toBeNull();
    expect(x.downloads).toBe(2); // the starts: carol's 0-99 and bob's 0-999
  });
});

