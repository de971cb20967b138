import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, utimesSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import * as esbuild from "esbuild";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity, sealedSize } from "../../client/seal";
import { ROOT } from "../node/support/server.ts";
import { staticHeaders } from "../../scripts/static-headers.mjs";
import { hasChromium, launch, random, sha256 } from "./support.ts";

/**
 * web/seal/seal-file.ts sealFileToSpool (issue 23: sealing off the page's thread) in real
 * headless Chromium: the workers are the ones `npm run build:web` writes (public/seal-encrypt.js,
 * public/seal-hash.js), served with the app's Content-Security-Policy (public/_headers); the page
 * is a small bundle of seal-file.ts and spool.ts made here (no `npm start` needed: sealing into
 * the spool talks to no server). Files are chosen from disk through an <input type=file>, as a
 * person does. The spool file is posted back here and opened by Debian's `age` with the
 * identities: the exact bytes; the digest is the file's SHA-256 computed here.
 */

const MiB = 1024 * 1024;
const PAGE = `
import { sealFileToSpool, changedWhileSealing } from "./web/seal/seal-file";
import { makeSpool, dropSpool } from "./web/seal/spool";
const input = document.createElement("input");
input.type = "file";
document.body.append(input);
window.sealTest = async (recipients, opts = {}) => {
  const file = input.files[0];
  const spool = await makeSpool();
  const progress = [];
  const ac = new AbortController();
  try {
    const r = await sealFileToSpool(file, recipients, spool.dir, "1.age", (n) => {
      progress.push(n);
      if (opts.abortAt && n >= opts.abortAt) ac.abort();
    }, ac.signal);
    const sealed = await (await spool.dir.getFileHandle("1.age")).getFile();
    const put = await fetch("/upload", { method: "PUT", body: sealed });
    if (!put.ok) throw new Error("upload " + put.status);
    return { ok: true, ...r, spoolSize: sealed.size, progress };
  } catch (e) {
    const names = [];
    for await (const n of spool.dir.keys()) names.push(n);
    return { ok: false, name: e.name, code: e.code, message: e.message, changed: changedWhileSealing(e), left: names, progress };
  } finally {
    await dropSpool(spool.name);
  }
};
`;

type Result =
  | { ok: true; written: number; digest: { sha256: string; size: number }; hashedWith: string; sealedWith: string; spoolSize: number; progress: number[] }
  | { ok: false; name: string; code?: string; message: string; changed: boolean; left: string[]; progress: number[] };

describe.skipIf(!hasChromium() || !existsSync(path.join(ROOT, "public", "seal-encrypt.js")))("sealFileToSpool: sealing in two workers into the OPFS spool", () => {
  let browser: Browser;
  let page: Page;
  let srv: http.Server;
  let dir: string;
  let uploaded: Buffer | null = null;
  let strict = false;
  const keys: Array<{ identity: string; recipient: string }> = [];

  /** Chooses `file` in the page's file input. */
  const choose = (file: string) => page.locator("input[type=file]").setInputFiles(file);
  const seal = (recipients: string[], opts: { abortAt?: number } = {}) => page.evaluate(([r, o]) => (window as unknown as { sealTest: (r: string[], o: object) => Promise<Result> }).sealTest(r, o), [recipients, opts] as const);
  /** `bytes` written as the file `name`, chosen in the page and sealed to `recipients`: the result, which must be a success. */
  const sealNew = async (name: string, bytes: Uint8Array, recipients: string[]): Promise<Extract<Result, { ok: true }>> => {
    const file = path.join(dir, name);
    writeFileSync(file, bytes);
    await choose(file);
    uploaded = null;
    const r = await seal(recipients);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    return r as Extract<Result, { ok: true }>;
  };
  /** `age -d -i <identity>` of what the page uploaded last. */
  const ageOpen = (identity: string) => {
    const idFile = path.join(dir, `id-${keys.findIndex((k) => k.identity === identity)}.txt`);
    writeFileSync(idFile, `${identity}\n`, { mode: 0o600 });
    const sealed = path.join(dir, "sealed.age");
    writeFileSync(sealed, uploaded!);
    return execFileSync("age", ["-d", "-i", idFile, sealed], { maxBuffer: 64 * MiB });
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "pushdrop-seal-file-"));
    for (let i = 0; i < 2; i++) keys.push(await generateIdentity());
    const bundle = await esbuild.build({
      stdin: { contents: PAGE, resolveDir: ROOT, sourcefile: "seal-file-page.ts", loader: "ts" },
      bundle: true,
      write: false,
      format: "esm",
      target: ["chrome109"],
      tsconfig: path.join(ROOT, "web", "tsconfig.json"),
      logLevel: "warning",
    });
    const js = bundle.outputFiles[0]!.contents;
    srv = http.createServer((req, res) => {
      // the policy public/_headers gives each path (the page's forbids WebAssembly, the sealing
      // workers' allow it); `strict` serves them under the page's policy instead
      const url = (req.url === "/seal-hash.js" || req.url === "/seal-encrypt.js") && strict ? "/" : req.url!;
      const h = { "content-security-policy": staticHeaders(url)["content-security-policy"]! };
      if (req.method === "PUT" && req.url === "/upload") {
        const parts: Buffer[] = [];
        req.on("data", (c: Buffer) => parts.push(c));
        req.on("end", () => {
          uploaded = Buffer.concat(parts);
          res.writeHead(204, h).end();
        });
        return;
      }
      if (req.url === "/page.js") return res.writeHead(200, { ...h, "content-type": "text/javascript" }).end(js);
      // the workers as the build wrote them
      if (req.url === "/seal-encrypt.js" || req.url === "/seal-hash.js" || req.url === "/seal-aead.js")
        return res.writeHead(200, { ...h, "content-type": "text/javascript" }).end(readFileSync(path.join(ROOT, "public", req.url.slice(1))));
      res.writeHead(200, { ...h, "content-type": "text/html" }).end('<!doctype html><meta charset=utf-8><title>seal</title><body><script type=module src="/page.js"></script>');
    });
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    browser = await launch();
    page = await browser.newPage();
    const errors: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && errors.push(m.text())));
    await page.goto(`http://127.0.0.1:${(srv.address() as { port: number }).port}/`);
    await page.waitForFunction(() => "sealTest" in window);
    expect(errors).toEqual([]);
  });

  afterAll(async () => {
    await browser?.close();
    srv?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("seals a file of a few MiB into the spool: its sealed size, age opens it to the exact bytes, the digest is its SHA-256", async () => {
    // not a whole number of age's 64 KiB chunks, so the last chunk is a short one
    const bytes = random(3 * MiB + 12345);
    const r = await sealNew("photo.bin", bytes, [keys[0]!.recipient]);
    expect(r.written).toBe(sealedSize(bytes.length, 1));
    expect(r.spoolSize).toBe(sealedSize(bytes.length, 1));
    expect(r.digest).toEqual({ sha256: sha256(bytes), size: bytes.length });
    // the workers' CSP allows WebAssembly: hash-wasm's SHA-256 and libsodium's ChaCha20-Poly1305
    // (/seal-aead.js), not the JavaScript ones; age (Debian's) opens what libsodium sealed
    expect(r.hashedWith).toBe("wasm");
    expect(r.sealedWith).toBe("wasm");
    // the running total only grows, and ends at the file's size
    expect(r.progress.at(-1)).toBe(bytes.length);
    expect(r.progress).toEqual([...r.progress].sort((a, b) => a - b));
    expect(uploaded!.length).toBe(r.written);
    expect(uploaded!.subarray(0, 22).toString()).toBe("age-encryption.org/v1\n");
    expect(Buffer.compare(ageOpen(keys[0]!.identity), Buffer.from(bytes))).toBe(0);
    // the other key is not a recipient: age refuses it
    expect(() => ageOpen(keys[1]!.identity)).toThrow();
  });

  it("seals to two keys (each opens it), and an empty file", async () => {
    const bytes = random(MiB + 1);
    const r = await sealNew("two.bin", bytes, keys.map((k) => k.recipient));
    expect(r.written).toBe(sealedSize(bytes.length, 2));
    expect(r.digest.sha256).toBe(sha256(bytes));
    for (const k of keys) expect(Buffer.compare(ageOpen(k.identity), Buffer.from(bytes))).toBe(0);

    const e = await sealNew("empty.bin", new Uint8Array(0), [keys[1]!.recipient]);
    expect(e.written).toBe(sealedSize(0, 1));
    expect(e.digest).toEqual({ sha256: sha256(new Uint8Array(0)), size: 0 });
    expect(ageOpen(keys[1]!.identity).length).toBe(0);
  });

  it("a file changed on disk after it was chosen fails to read: the seal rejects, says so, and leaves nothing in the spool", async () => {
    const file = path.join(dir, "changing.bin");
    writeFileSync(file, random(4 * MiB));
    await choose(file);
    // the page has the file's size and time before it changes (Chromium takes them when they are
    // first asked for: changed before that, the file read well, as chosen, once in CI)
    const seen = await page.evaluate(() => {
      const f = document.querySelector<HTMLInputElement>("input[type=file]")!.files![0]!;
      return [f.size, f.lastModified > 0];
    });
    expect(seen).toEqual([4 * MiB, true]);
    // changed after it was chosen: shorter, and a new modification time
    truncateSync(file, 2 * MiB);
    utimesSync(file, new Date(), new Date(Date.now() + 60_000));
    const r = await seal([keys[0]!.recipient]);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.changed, JSON.stringify(r)).toBe(true);
    expect(r.left).toEqual([]);
  });

  it("an abort stops both workers and leaves nothing; a recipient that is not an X25519 key is refused", async () => {
    const file = path.join(dir, "big.bin");
    writeFileSync(file, random(16 * MiB));
    await choose(file);
    const r = await seal([keys[0]!.recipient], { abortAt: 1 });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.name).toBe("AbortError");
    expect(r.changed).toBe(false);
    expect(r.left).toEqual([]);
    expect(r.progress.at(-1)!).toBeLessThan(16 * MiB);

    const bad = await seal(["age1notakey"]);
    expect(bad.ok).toBe(false);
    if (bad.ok) return;
    expect(bad).toMatchObject({ name: "SealError", code: "bad_recipient", left: [] });

    // and the next file seals well after those failures (fresh workers)
    writeFileSync(file, random(100_000));
    await choose(file);
    const again = await seal([keys[0]!.recipient]);
    expect(again.ok, JSON.stringify(again)).toBe(true);
  });

  it("where WebAssembly is refused (the sealing workers served under the page's policy), it hashes and seals with JavaScript, to the same digest and bytes", async () => {
    strict = true;
    try {
      await page.reload(); // a new pair of workers, their scripts fetched again
      await page.waitForFunction(() => "sealTest" in window);
      const bytes = random(2 * MiB + 7);
      const r = await sealNew("strict.bin", bytes, [keys[0]!.recipient]);
      expect(r.hashedWith).toBe("js");
      expect(r.sealedWith).toBe("js");
      expect(r.digest).toEqual({ sha256: sha256(bytes), size: bytes.length });
      expect(Buffer.compare(ageOpen(keys[0]!.identity), Buffer.from(bytes))).toBe(0);
    } finally {
      strict = false;
    }
  });
});
