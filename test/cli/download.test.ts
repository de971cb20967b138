import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
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
