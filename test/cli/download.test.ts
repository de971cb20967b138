import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { ApiError, NetworkError, PushdropClient } from "../../client";
import { downloadToFile } from "../../cli/download";
import { nodeDownload } from "../../cli/http";
import { directDownload } from "../../cli/direct-get";
import { CliError } from "../../cli/exit";

/** cli/download.ts against a server that answers with the bytes given (no network). */
const root = mkdtempSync(path.join(tmpdir(), "pushdrop-download-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function serving(body: Uint8Array) {
  let calls = 0;
  const client = {
    async download() {
      calls++;
      return new Response(body, { status: 200 });
    },
  } as unknown as PushdropClient;
  return { client, calls: () => calls };
}

it("a body longer than the file is refused as it streams, not retried, and leaves nothing on disk", async () => {
  const part = path.join(root, "long.part");
  writeFileSync(part, "");
  const { client, calls } = serving(new Uint8Array(3 * 1024 * 1024));
  const size = 1024 * 1024;
  const e = await downloadToFile(client, "/x", part, { size, sha256: "0".repeat(64), backoffMs: () => 1 }).catch((x) => x);
  expect(e).toBeInstanceOf(CliError);
  expect((e as CliError).code).toBe("too_long");
  expect(calls()).toBe(1);
  expect(statSync(part).size).toBe(0);
});

it("a body of the right length and checksum is kept", async () => {
  const part = path.join(root, "ok.part");
  const bytes = new Uint8Array(100_000).map((_, i) => i % 251);
  const { client } = serving(bytes);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  await downloadToFile(client, "/x", part, { size: bytes.byteLength, sha256 });
  expect(statSync(part).size).toBe(bytes.byteLength);
});

it("a download that breaks off is retried from where the file stands, without reading back what this call already hashed", async () => {
  const part = path.join(root, "breaks.part");
  writeFileSync(part, "");
  const MiB = 1024 * 1024;
  const bytes = new Uint8Array(3 * MiB + 123).map((_, i) => (i * 7) % 253);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  /** serves from the offset asked, and breaks off after 1 MiB (as a dropped connection does) */
  const client = {
    async download(_path: string, { offset }: { offset: number }) {
      const rest = bytes.subarray(offset);
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          if (!sent) {
            sent = true;
            c.enqueue(rest.slice(0, MiB));
          } else if (rest.byteLength <= MiB) c.close();
          else {
            await new Promise((r) => setTimeout(r, 50)); // (the line goes quiet, then drops)
            c.error(new Error("terminated"));
          }
        },
      });
      return new Response(body, offset > 0 ? { status: 206, headers: { "content-range": `bytes ${offset}-${bytes.byteLength - 1}/${bytes.byteLength}` } } : { status: 200 });
    },
  } as unknown as PushdropClient;
  const starts: Array<[number, number]> = [];
  await downloadToFile(client, "/x", part, { size: bytes.byteLength, sha256, backoffMs: () => 1, onStart: (o, r) => starts.push([o, r]) });
  expect(starts).toEqual([[0, 0], [MiB, 0], [2 * MiB, 0], [3 * MiB, 0]]);
  expect(statSync(part).size).toBe(bytes.byteLength);
  // a new call (a new run of the CLI) on a partial file reads back what is there, once
  truncateSync(part, 2 * MiB);
  const again: Array<[number, number]> = [];
  await downloadToFile(client, "/x", part, { size: bytes.byteLength, sha256, backoffMs: () => 1, onStart: (o, r) => again.push([o, r]) });
  expect(again).toEqual([[2 * MiB, 2 * MiB], [3 * MiB, 0]]);
});

describe("the .part file is never written through a link", () => {
  const MiB = 1024 * 1024;
  const bytes = new Uint8Array(MiB + 5).map((_, i) => (i * 3) % 251);
  const sha256 = createHash("sha256").update(bytes).digest("hex");

  for (const [what, setup] of [
    ["a symbolic link (a new download)", (part: string, victim: string) => symlinkSync(victim, part)],
    ["a symbolic link to a dangling name (O_CREAT would make the target)", (part: string, victim: string) => symlinkSync(`${victim}.new`, part)],
    ["a hard link to a file elsewhere (a resume)", (part: string, victim: string) => linkSync(victim, part)],
  ] as const) {
    it(`refuses ${what}, asks nothing of the server, and leaves the other file as it was`, async () => {
      const dir = mkdtempSync(path.join(root, "links-"));
      const victim = path.join(root, `victim-${path.basename(dir)}`);
      writeFileSync(victim, "precious\n");
      const part = path.join(dir, "x.part");
      setup(part, victim);
      const { client, calls } = serving(bytes);
      const e = await downloadToFile(client, "/x", part, { size: bytes.byteLength, sha256 }).catch((x) => x);
      expect(e).toBeInstanceOf(CliError);
      expect((e as CliError).code).toBe("unsafe_part_file");
      expect((e as CliError).exitCode).toBe(5);
      expect(calls()).toBe(0);
      expect(readFileSync(victim, "utf8")).toBe("precious\n");
      expect(existsSync(`${victim}.new`)).toBe(false);
    });
  }

  it("refuses a FIFO planted there (it would block or swallow the bytes)", async () => {
    const dir = mkdtempSync(path.join(root, "fifo-"));
    const part = path.join(dir, "x.part");
    execFileSync("mkfifo", [part]);
    const { client, calls } = serving(bytes);
    const e = await downloadToFile(client, "/x", part, { size: bytes.byteLength, sha256 }).catch((x) => x);
    expect((e as CliError).code).toBe("unsafe_part_file");
    expect(calls()).toBe(0);
  });

  it("creates a missing .part itself, readable by its owner only", async () => {
    const part = path.join(mkdtempSync(path.join(root, "new-")), "x.part");
    await downloadToFile(serving(bytes).client, "/x", part, { size: bytes.byteLength, sha256 });
    const st = lstatSync(part);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600 & ~process.umask());
    expect(st.size).toBe(bytes.byteLength);
  });
});

// directDownload reads the common answer (200/206 with a length) from the socket itself and asks
// again through node:http for anything else (a redirect, an error): so it asks twice for those
describe.each([
  { via: "node:http (cli/http.ts nodeDownload)", get: nodeDownload, again: false },
  { via: "the socket (cli/direct-get.ts directDownload, what get uses)", get: directDownload, again: true },
])("through $via", ({ get, again }) => {
  const MiB = 1024 * 1024;
  const bytes = new Uint8Array(3 * MiB + 77).map((_, i) => (i * 5) % 249);
  const sha256 = createHash("sha256").update(bytes).digest("hex");

  /** A server of `bytes` at /pkg (honouring Range and If-Range) that cuts the first `breaks` answers off after 1 MiB. */
  async function server(breaks: number) {
    const seen: Array<{ url: string; range?: string; ifRange?: string; auth?: string }> = [];
    let left = breaks;
    const srv = http.createServer((req, res) => {
      seen.push({ url: req.url!, range: req.headers.range, ifRange: String(req.headers["if-range"] ?? ""), auth: req.headers.authorization });
      if (req.url === "/moved") return void res.writeHead(302, { location: "/pkg" }).end();
      if (!req.url!.startsWith("/pkg")) return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ error: { code: "not_found", message: "No such transfer." } }));
      const from = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
      const body = Buffer.from(bytes.subarray(from));
      res.writeHead(from > 0 ? 206 : 200, {
        "content-length": String(body.length),
        ...(from > 0 ? { "content-range": `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}),
      });
      if (left-- > 0) {
        res.write(body.subarray(0, MiB));
        setTimeout(() => res.socket?.destroy(), 30); // (a dropped connection)
      } else res.end(body);
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    return { base, seen, close: () => new Promise((r) => srv.close(r)) };
  }

  it("resumes a broken body with Range and If-Range, sends the token (not on a signed link), follows a redirect, and keeps the right bytes", async () => {
    const s = await server(2);
    try {
      const client = new PushdropClient({ server: s.base, token: "tok" });
      const part = path.join(root, `${again ? "direct" : "node"}-node.part`);
      const starts: number[] = [];
      await downloadToFile(client, "/moved", part, { size: bytes.length, sha256, get, backoffMs: () => 1, onStart: (o) => starts.push(o) });
      expect(readFileSync(part).equals(Buffer.from(bytes))).toBe(true);
      expect(starts).toEqual([0, MiB, 2 * MiB]);
      const once = again ? ["/moved", "/moved", "/pkg"] : ["/moved", "/pkg"];
      expect(s.seen.map((x) => x.url)).toEqual([...once, ...once, ...once]);
      expect(s.seen.at(-1)).toMatchObject({ range: `bytes=${2 * MiB}-`, ifRange: `"${sha256}"`, auth: "Bearer tok" });
      const signed = path.join(root, `${again ? "direct" : "node"}-signed.part`);
      await downloadToFile(client, "/pkg?exp=1&sig=abc", signed, { size: bytes.length, sha256, get });
      expect(s.seen.at(-1)!.auth).toBeUndefined();
    } finally {
      await s.close();
    }
  });

  it("an error answer is the server's ApiError (its JSON code), not retried; no server is a NetworkError", async () => {
    const s = await server(0);
    try {
      const client = new PushdropClient({ server: s.base, token: "tok" });
      const e = await downloadToFile(client, "/nothing", path.join(root, `${again ? "direct" : "node"}-err.part`), { size: bytes.length, sha256, get, backoffMs: () => 1 }).catch((x) => x);
      expect(e).toBeInstanceOf(ApiError);
      expect((e as ApiError).code).toBe("not_found");
      expect(s.seen).toHaveLength(again ? 2 : 1);
    } finally {
      await s.close();
    }
    const gone = new PushdropClient({ server: s.base });
    const e = await downloadToFile(gone, "/pkg", path.join(root, `${again ? "direct" : "node"}-gone.part`), { size: bytes.length, sha256, get, tries: 2, backoffMs: () => 1 }).catch((x) => x);
    expect(e).toBeInstanceOf(NetworkError);
  });
});
