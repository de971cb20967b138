import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PushdropClient } from "../../client";
import {
  generateIdentity,
  openSeal,
  openStream,
  sealDocument,
  sealedFileSpecs,
  sealStream,
  type SealDraft,
} from "../../client/seal";
import type { Transfer } from "../../src/contract";
import { removeState, startServer, type Server } from "./support/server.ts";

/**
 * Sealed transfers end to end against `npm start`, through the API client and client/seal (the
 * pieces the web app and the CLI will call): keys published and looked up, files sealed,
 * uploaded, packaged and downloaded as any others, opened by the recipient (and by Debian's
 * `age`), and the server's whole state searched for what sealing hides.
 */

let server: Server;
let dir: string;

beforeAll(async () => {
  server = await startServer();
  dir = mkdtempSync(path.join(tmpdir(), "pushdrop-sealed-"));
});
afterAll(async () => {
  await server?.stop();
  if (server) removeState(server.state);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function terminal(name: string) {
  const t = await new PushdropClient({ server: server.base }).register(name);
  const keys = await generateIdentity();
  const client = new PushdropClient({ server: server.base, token: t.token });
  return { ...t, keys, client };
}
type T = Awaited<ReturnType<typeof terminal>>;

function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (let at = 0; at < bytes.length; at += 50_000) c.enqueue(bytes.slice(at, at + 50_000));
      c.close();
    },
  });
}

async function collect(s: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const c of s as unknown as AsyncIterable<Uint8Array>) parts.push(c);
  return Buffer.concat(parts);
}

async function waitReady(c: PushdropClient, id: string): Promise<Transfer> {
  for (const until = Date.now() + 60_000; Date.now() < until; await new Promise((r) => setTimeout(r, 200))) {
    const t = await c.transfer(id);
    if (t.status === "ready") return t;
  }
  throw new Error(`transfer ${id} not ready`);
}

async function put(c: PushdropClient, url: string, body: Uint8Array) {
  const res = await c.raw(url, { method: "PUT", body: body as RequestInit["body"], headers: { "content-type": "application/octet-stream" } });
  expect(res.status).toBe(200);
}

function age(args: string[], input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn("age", args);
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (c: Buffer) => out.push(c));
    p.stderr.on("data", (c) => (err += c));
    p.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`age: ${code} ${err}`))));
    p.stdin.end(input);
  });
}

/** Every file under `root` whose bytes contain `marker` (ASCII). */
function filesContaining(root: string, marker: string): string[] {
  const needle = Buffer.from(marker);
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && readFileSync(p).includes(needle)) found.push(path.relative(root, p));
    }
  };
  walk(root);
  return found;
}

/** A's files: one with the marker in its content and its name, and an empty one. */
const filesWith = (marker: string) => {
  const content = Buffer.concat([randomBytes(150_000), Buffer.from(`secret ${marker} inside`), randomBytes(70_000)]);
  return [
    { name: `report-${marker}.pdf`, type: "application/pdf", data: content },
    { name: "empty.txt", type: "text/plain", data: Buffer.alloc(0) },
  ];
};

/** Seals and sends `files` and `message` from `a` to `b` (and to a itself, so its outbox can read it). */
async function sendSealed(a: T, b: T, files: ReturnType<typeof filesWith>, message: string) {
  const recipients = [(await a.client.lookup(b.id)).key!, a.keys.recipient];
  const sealed: Buffer[] = [];
  const draftFiles: SealDraft["files"] = [];
  for (const [index, f] of files.entries()) {
    // sealed once, hashed on the way (the CLI will spool this to disk; a test keeps it in memory)
    const s = await sealStream(streamOf(f.data), recipients);
    sealed.push(await collect(s.stream));
    const d = await s.digest;
    draftFiles.push({ index, name: f.name, type: f.type, size: d.size, sha256: d.sha256 });
  }
  const draft: SealDraft = { from: a.id, to: [b.id], message, files: draftFiles };
  const t = await a.client.createTransfer({ to: [b.id], files: sealedFileSpecs(draft, recipients.length), sealed: true });
  expect(t.sealed).toBe(true);
  for (const [i, bytes] of sealed.entries()) if (bytes.length > 0) await put(a.client, t.files[i]!.uploadUrl, bytes);
  await put(a.client, t.files[files.length]!.uploadUrl, await sealDocument(draft, t.id, recipients));
  return waitReady(a.client, t.id);
}

describe("sealed transfers against npm start", () => {
  it("publish keys; seal, upload, package, download and open; age opens the same files; a seal from another transfer is refused", async () => {
    const a = await terminal("Anna");
    const b = await terminal("Bob");
    expect((await a.client.lookup(b.id)).key).toBeNull();
    expect(await b.client.publishKey(b.id, b.keys.recipient)).toMatchObject({ id: b.id, key: b.keys.recipient });
    await a.client.publishKey(a.id, a.keys.recipient);

    const files = filesWith("m" + randomBytes(8).toString("hex"));
    const sent = await sendSealed(a, b, files, "photos from the trip");
    expect(sent.message).toBeNull();
    expect(sent.files.map((f) => f.name)).toEqual(["1.age", "2.age", "seal.age"]);

    // Bob opens it: the seal, then each file as a stream, checked against the seal
    const t = await b.client.transfer(sent.id);
    const sealFile = t.files.at(-1)!;
    const sealBytes = Buffer.from(await (await b.client.download(b.client.filePath(t.id, sealFile.index))).arrayBuffer());
    const doc = await openSeal(sealBytes, [b.keys.identity], t);
    expect(doc.message).toBe("photos from the trip");
    expect(doc.files.map((f) => f.name)).toEqual(files.map((f) => f.name));
    for (const f of doc.files) {
      const res = await b.client.download(b.client.filePath(t.id, f.index));
      const plain = await collect(await openStream(res.body!, [b.keys.identity], { sealedSize: t.files[f.index]!.size, size: f.size, sha256: f.sha256 }));
      expect(plain.equals(files[f.index]!.data), f.name).toBe(true);
    }
    // Debian's age opens the raw file with Bob's identity, and the sender's own key opens it too
    const keyFile = path.join(dir, "bob.key");
    writeFileSync(keyFile, b.keys.identity + "\n", { mode: 0o600 });
    const raw = Buffer.from(await (await b.client.download(b.client.filePath(t.id, 0))).arrayBuffer());
    expect((await age(["-d", "-i", keyFile], raw)).equals(files[0]!.data)).toBe(true);
    expect((await openSeal(sealBytes, [a.keys.identity], await a.client.transfer(t.id))).transferId).toBe(t.id);

    // the same seal shown with another sealed transfer of the same shape is refused
    const other = await sendSealed(a, b, files, "photos from the trip");
    await expect(openSeal(sealBytes, [b.keys.identity], await b.client.transfer(other.id))).rejects.toMatchObject({ code: "seal_mismatch" });
  });

  it("leaves no trace of a sealed file's content, its name or the message anywhere in the server's state; a plain send does (so the search works)", async () => {
    const a = await terminal("Anna");
    const b = await terminal("Bob");
    await b.client.publishKey(b.id, b.keys.recipient);
    await a.client.publishKey(a.id, a.keys.recipient);
    const sealedMarker = "s" + randomBytes(8).toString("hex");
    const plainMarker = "p" + randomBytes(8).toString("hex");

    await sendSealed(a, b, filesWith(sealedMarker), `note ${sealedMarker}-msg`);
    const plainFiles = filesWith(plainMarker);
    const plain = await a.client.createTransfer({
      to: [b.id],
      files: plainFiles.map((f) => ({ name: f.name, size: f.data.length, type: f.type })),
      message: `note ${plainMarker}-msg`,
    });
    await put(a.client, plain.files[0]!.uploadUrl, plainFiles[0]!.data);
    await waitReady(a.client, plain.id);

    // D1, R2 and Durable Object storage all live under the state directory
    expect(filesContaining(server.state, plainMarker).length).toBeGreaterThan(0);
    expect(filesContaining(server.state, `${plainMarker}-msg`).length).toBeGreaterThan(0);
    expect(filesContaining(server.state, sealedMarker)).toEqual([]);
  });
});
