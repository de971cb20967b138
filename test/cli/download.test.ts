import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, linkSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PushdropClient } from "../../client";
import { downloadToFile } from "../../cli/download";
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
