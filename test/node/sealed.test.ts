import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
import { age, collect, streamOf } from "./support/bytes.ts";
import { removeState, startServer, type Server } from "./support/server.ts";
import { isD1, isDurableObject, isR2Blob, isSqlite, searchState } from "./support/state.ts";

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

/** A's files: one with `inContent` in its content and `inName` in its name, and an empty one. */
const filesWith = (inContent: string, inName = inContent) => {
  const content = Buffer.concat([randomBytes(150_000), Buffer.from(`secret ${inContent} inside`), randomBytes(70_000)]);
  return [
    { name: `report-${inName}.pdf`, type: "application/pdf", data: content },
    { name: "empty.txt", type: "text/plain", data: Buffer.alloc(0) },
  ];
};

/** Three markers, one for each thing sealing hides: a file's content, its name, the message. */
const markers = (tag: string) => ({ content: `${tag}c${randomBytes(8).toString("hex")}`, name: `${tag}n${randomBytes(8).toString("hex")}`, message: `${tag}m${randomBytes(8).toString("hex")}` });

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
    const hidden = markers("s");
    const clear = markers("p");

    const sealed = await sendSealed(a, b, filesWith(hidden.content, hidden.name), `note ${hidden.message} ☀`);
    const plainFiles = filesWith(clear.content, clear.name);
    const plain = await a.client.createTransfer({
      to: [b.id],
      files: plainFiles.map((f) => ({ name: f.name, size: f.data.length, type: f.type })),
      message: `note ${clear.message} ☀`,
    });
    await put(a.client, plain.files[0]!.uploadUrl, plainFiles[0]!.data);
    await waitReady(a.client, plain.id);

    // D1, R2 and Durable Object storage all live under the state directory: every file of it read
    // as bytes, the SQLite files' write-ahead logs too. A transfer's notices are queued in its
    // recipients' Durable Objects after it is ready: searched again until both transfers' ids
    // (which the server sees) are in Durable Object storage, for up to 15 s
    const markersOf = { ...prefixed("sealed", hidden), ...prefixed("plain", clear), "sealed.id": sealed.id, "plain.id": plain.id };
    const noticed = (f: Record<string, string[]>) => f["sealed.id"]!.some(isDurableObject) && f["plain.id"]!.some(isDurableObject);
    let search = searchState(server.state, markersOf);
    for (const until = Date.now() + 15_000; !noticed(search.found) && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, 250));
      search = searchState(server.state, markersOf);
    }
    const { files, found } = search;
    expect(files.filter(isR2Blob).length, files.join("\n")).toBeGreaterThan(0);
    expect(files.filter(isSqlite).length, files.join("\n")).toBeGreaterThan(0);
    expect(noticed(found), JSON.stringify(found)).toBe(true);
    // the plain send is found, each of its three: the content in R2's blobs (not only in some index)
    expect(found["plain.content"]!.filter(isR2Blob), files.join("\n")).not.toEqual([]);
    expect(found["plain.name"]).not.toEqual([]);
    expect(found["plain.message"]).not.toEqual([]);
    // and the search reaches each of the three stores: the plain message is in D1 (the transfer's
    // row), in the recipient's Durable Object storage (its outbox) and in R2 (the package's manifest)
    expect(found["plain.message"]!.filter(isD1), files.join("\n")).not.toEqual([]);
    expect(found["plain.message"]!.filter(isDurableObject), files.join("\n")).not.toEqual([]);
    expect(found["plain.message"]!.filter(isR2Blob), files.join("\n")).not.toEqual([]);
    // the sealed one is not, none of its three
    expect(found["sealed.content"]).toEqual([]);
    expect(found["sealed.name"]).toEqual([]);
    expect(found["sealed.message"]).toEqual([]);
  });
});

const prefixed = (p: string, m: Record<string, string>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [`${p}.${k}`, v]));
