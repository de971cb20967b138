import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
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
