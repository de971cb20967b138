import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generateHybridIdentity, identityToRecipient, Encrypter, Stanza } from "age-encryption";
import { afterAll, describe, expect, it } from "vitest";
import { sealedShapeIssues } from "../../src/contract";
import {
  acceptKey,
  checkSeal,
  decideTrust,
  decodeSeal,
  encodeSeal,
  fingerprint,
  formatDigits,
  generateDeviceIdentity,
  generateIdentity,
  isIdentityString,
  isRecipient,
  openSeal,
  openStream,
  parseShareLink,
  recipientBytes,
  recipientsFor,
  safetyNumber,
  sealDocument,
  sealDocumentProblem,
  sealedFileSpecs,
  sealedSize,
  sealFileSize,
  sealPlainSize,
  sealStream,
  SealError,
  sha256Hasher,
  shareLink,
  verifySafetyNumber,
  type SealDraft,
  type SealedTransfer,
  type WebCryptoKey,
} from "../../client/seal";
import { age, collect, sha256, streamOf } from "../node/support/bytes.ts";
import { LOW_ORDER } from "../node/support/low-order.ts";

/**
 * client/seal against the reference: what it seals, Debian's `age` opens; what `age -r`
 * encrypts, it opens; the sizes it predicts are the library's; seals that do not describe
 * their transfer are refused.
 */

const dir = mkdtempSync(path.join(tmpdir(), "pushdrop-seal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function identityFile(identity: string): string {
  const f = path.join(dir, `${randomBytes(6).toString("hex")}.key`);
  writeFileSync(f, identity + "\n", { mode: 0o600 });
  return f;
}


describe("keys", () => {
  it("generates X25519 identities (AGE-SECRET-KEY-1…) whose recipients are age1… and that `age` accepts", async () => {
    const { identity, recipient } = await generateIdentity();
    expect(isIdentityString(identity)).toBe(true);
    expect(isRecipient(recipient)).toBe(true);
    expect(recipient).toMatch(/^age1[a-z0-9]{58}$/);
    // age-keygen -y derives the recipient from the identity file independently
    const derived = await new Promise<string>((resolve, reject) => {
      const p = spawn("age-keygen", ["-y", identityFile(identity)]);
      let s = "";
      p.stdout.on("data", (c) => (s += c));
      p.on("close", (code) => (code === 0 ? resolve(s.trim()) : reject(new Error(`age-keygen ${code}`))));
    });
    expect(derived).toBe(recipient);
  });

  it("makes a non-extractable WebCrypto X25519 key where the runtime has one", async () => {
    const dev = await generateDeviceIdentity();
    expect(dev.nonExtractable).toBe(true);
    expect(typeof dev.identity).not.toBe("string");
    expect((dev.identity as WebCryptoKey & { extractable: boolean }).extractable).toBe(false);
    expect(isRecipient(dev.recipient)).toBe(true);
  });

  it("accepts only X25519 recipients: post-quantum, plugin, bad checksum, wrong case and wrong length are refused", async () => {
    const { recipient } = await generateIdentity();
    expect(recipientBytes(recipient)).toHaveLength(32);
    const pq = await identityToRecipient(await generateHybridIdentity());
    expect(pq.startsWith("age1pq1")).toBe(true);
    // a character changed: the bech32 checksum no longer matches
    const last = recipient.at(-1) === "q" ? "p" : "q";
    for (const bad of [
      pq,
      recipient.slice(0, -1) + last,
      recipient.toUpperCase(),
      recipient.slice(0, -1),
      recipient + "q",
      "age1yubikey1qwt50d05nh5vutpdzmlg5wn80xq5negm4uj9ghv0snvdd3yysf5yw3rhl3t",
      "AGE-SECRET-KEY-1" + recipient.slice(4).toUpperCase(),
      "",
      ...LOW_ORDER,
    ]) {
      expect(isRecipient(bad), bad).toBe(false);
    }
    // a server that publishes a low-order point publishes no key: nothing is sealed to it, no crash later
    for (const published of LOW_ORDER) expect(decideTrust({ pinned: null, published, link: null }).kind).toBe("bad_key");
    expect(isIdentityString(recipient)).toBe(false);
  });
});

describe("sizes", () => {
  it("predicts the library's ciphertext size: 86 + 98·r + p + 16·max(1, ⌈p/65536⌉)", async () => {
    const recipients = await Promise.all([1, 2, 3].map(async () => (await generateIdentity()).recipient));
    for (const r of [1, 2, 3]) {
      const e = new Encrypter();
      for (const k of recipients.slice(0, r)) e.addRecipient(k);
      for (const p of [0, 1, 65535, 65536, 65537, 131072, 131073, 200_000]) {
        const out = await e.encrypt(new Uint8Array(p));
        expect(out.length, `p=${p} r=${r}`).toBe(sealedSize(p, r));
        expect(recipientsFor(out.length, p)).toBe(r);
      }
    }
    expect(sealedSize(0, 1)).toBe(200);
    expect(recipientsFor(sealedSize(100, 2) + 1, 100)).toBeNull();
    expect(() => sealedSize(1, 0)).toThrow();
  });
});

describe("sealing and opening files as streams", () => {
  it("seals a stream that Debian's age decrypts to the same bytes, for each recipient, with its SHA-256 on the way", async () => {
    const a = await generateIdentity();
    const b = await generateIdentity();
    const plain = randomBytes(300_000); // five chunks, the last short
    const sealed = await sealStream(streamOf(plain, 7_777), [a.recipient, b.recipient]);
    const ciphertext = await collect(sealed.stream);
    expect(ciphertext.length).toBe(sealedSize(plain.length, 2));
    expect(await sealed.digest).toEqual({ sha256: sha256(plain), size: plain.length });
    for (const who of [a, b]) {
      const out = await age(["-d", "-i", identityFile(who.identity)], ciphertext);
      expect(out.equals(plain)).toBe(true);
    }
  });

  it("opens what `age -r` encrypted, with an identity string and with a WebCrypto key", async () => {
    const s = await generateIdentity();
    const w = await generateDeviceIdentity();
    const plain = randomBytes(65536 * 2 + 5);
    const ciphertext = await age(["-r", s.recipient, "-r", w.recipient], plain);
    for (const identity of [s.identity, w.identity]) {
      const opened = await openStream(streamOf(ciphertext, 10_000), [identity], {
        sealedSize: ciphertext.length,
        size: plain.length,
        sha256: sha256(plain),
      });
      expect((await collect(opened)).equals(plain)).toBe(true);
    }
  });

  it("fails the opened stream when the plaintext is not the seal's: wrong SHA-256, wrong size; and on a changed byte", async () => {
    const k = await generateIdentity();
    const plain = randomBytes(100_000);
    const ciphertext = await age(["-r", k.recipient], plain);
    const wrongHash = await openStream(streamOf(ciphertext, 10_000), [k.identity], { size: plain.length, sha256: sha256(Buffer.from("x")) });
    await expect(collect(wrongHash)).rejects.toMatchObject({ code: "checksum_mismatch" });
    await expect(
      openStream(streamOf(ciphertext, 10_000), [k.identity], { sealedSize: ciphertext.length, size: plain.length - 1, sha256: sha256(plain) }),
    ).rejects.toMatchObject({ code: "size_mismatch" });
    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 100]! ^= 1;
    await expect(collect(await openStream(streamOf(tampered, 10_000), [k.identity]))).rejects.toThrow();
  });

  it("hashes alike with Node's native SHA-256, hash-wasm's (the hash worker, the service worker) and the JavaScript one (the page)", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 77);
    for (const kind of ["node", "wasm", "js"] as const) {
      for (const cut of [0, 1, 63, 64, 12_345, 1024 * 1024]) {
        const h = await sha256Hasher(kind);
        expect(h.kind).toBe(kind);
        h.update(data.subarray(0, cut));
        h.update(data.subarray(cut));
        expect(h.hex(), `${kind}, cut at ${cut}`).toBe(sha256(data));
      }
      const empty = await sha256Hasher(kind);
      expect(empty.hex(), `${kind}, no bytes`).toBe(sha256(new Uint8Array(0)));
    }
  });

  it("refuses to seal to a post-quantum recipient, to nobody, or to one recipient twice", async () => {
    const k = await generateIdentity();
    const pq = await identityToRecipient(await generateHybridIdentity());
    for (const recipients of [[pq], [], [k.recipient, k.recipient]]) {
      await expect(sealStream(streamOf(new Uint8Array(1)), recipients)).rejects.toMatchObject({ code: "bad_recipient" });
    }
  });
});

describe("seal.age", () => {
  const transferId = "jnpGdTWw9Y84WHhYnD3SGA";
  const draft = (files: SealDraft["files"], message: string | null = "for you"): SealDraft => ({
    from: "578418129",
    to: ["772586192", "111111111"],
    message,
    files,
  });
  const files: SealDraft["files"] = [
    { index: 0, name: "holiday.jpg", type: "image/jpeg", size: 100_000, sha256: "a".repeat(64) },
    { index: 1, name: "notes/ü.txt", type: "text/plain", size: 0, sha256: "b".repeat(64) },
  ];
  /** The Transfer the server would show for this draft sealed to r recipients. */
  const transferOf = (d: SealDraft, r: number): SealedTransfer => ({
    id: transferId,
    sealed: true,
    from: { id: d.from },
    to: ["111111111", "772586192"],
    message: null,
    files: [
      ...d.files.map((f) => ({ index: f.index, name: `${f.index + 1}.age`, size: sealedSize(f.size, r) })),
      { index: d.files.length, name: "seal.age", size: sealFileSize(d, r) },
    ],
  });

  it("is padded to a power of two ≥ 1 KiB (a text alone: ≥ 4 KiB) that is known before the transfer id, and `age` decrypts it to the document", async () => {
    const d = draft(files);
    const k = await generateIdentity();
    expect(sealPlainSize(d)).toBe(1024);
    expect(encodeSeal(d, transferId)).toHaveLength(1024);
    const long = draft(files, "x".repeat(9000));
    expect(sealPlainSize(long)).toBe(16384);
    expect(encodeSeal(long, transferId)).toHaveLength(16384);
    // a text alone: padded the same way, so a short and a long note look alike under 4 KiB
    expect(sealPlainSize(draft([], "hi"))).toBe(4096);
    const sealed = await sealDocument(d, transferId, [k.recipient]);
    expect(sealed.length).toBe(sealFileSize(d, 1));
    const plain = await age(["-d", "-i", identityFile(k.identity)], sealed);
    const doc = JSON.parse(plain.toString("utf8"));
    expect(doc).toEqual({
      pushdrop: "seal",
      v: 1,
      transferId,
      from: "578418129",
      to: ["111111111", "772586192"],
      message: "for you",
      files,
    });
    expect(decodeSeal(plain)).toEqual(doc);
  });

  it("gives the files of POST /v1/transfers: 1.age … n.age at their sealed sizes, then seal.age, as the server requires", () => {
    const d = draft(files);
    const specs = sealedFileSpecs(d, 2);
    expect(specs).toEqual([
      { name: "1.age", size: sealedSize(100_000, 2), type: "application/octet-stream" },
      { name: "2.age", size: sealedSize(0, 2), type: "application/octet-stream" },
      { name: "seal.age", size: sealFileSize(d, 2), type: "application/octet-stream" },
    ]);
    expect(sealedShapeIssues({ files: specs })).toEqual([]);
    expect(sealedShapeIssues({ files: sealedFileSpecs(draft([], "a note"), 1) })).toEqual([]);
    expect(sealedShapeIssues({ files: specs.slice().reverse() })).not.toEqual([]);
  });

  it("opens a seal that describes its transfer", async () => {
    const a = await generateIdentity();
    const b = await generateIdentity();
    const d = draft(files);
    const sealed = await sealDocument(d, transferId, [a.recipient, b.recipient]);
    const doc = await openSeal(sealed, [b.identity], transferOf(d, 2));
    expect(doc.files.map((f) => f.name)).toEqual(["holiday.jpg", "notes/ü.txt"]);
    expect(doc.message).toBe("for you");
    // as a stream too
    expect(await openSeal(streamOf(sealed, 1000), [a.identity], transferOf(d, 2))).toEqual(doc);
    // a text alone: seal.age is the transfer's only file
    const text = draft([], "a note");
    expect((await openSeal(await sealDocument(text, transferId, [a.recipient, b.recipient]), [a.identity], transferOf(text, 2))).message).toBe("a note");
  });

  it("refuses a seal that does not match the transfer it came with", async () => {
    const k = await generateIdentity();
    const k2 = await generateIdentity();
    const d = draft(files); // (two recipients)
    const sealed = await sealDocument(d, transferId, [k.recipient, k2.recipient]);
    const good = transferOf(d, 2);
    const bad: Array<[string, SealedTransfer]> = [
      ["another transfer (a replayed seal)", { ...good, id: "AAAAAAAAAAAAAAAAAAAAAA" }],
      ["another sender", { ...good, from: { id: "111111111" } }],
      ["other recipients", { ...good, to: ["772586192"] }],
      ["a message in the clear", { ...good, message: "hello" }],
      ["a transfer not sealed", { ...good, sealed: false }],
      ["files swapped", { ...good, files: [{ ...good.files[1]!, index: 0 }, { ...good.files[0]!, index: 1 }, good.files[2]!] }],
      ["a file left out", { ...good, files: [good.files[0]!, { ...good.files[2]!, index: 1 }] }],
      ["a file of the wrong size", { ...good, files: [{ ...good.files[0]!, size: good.files[0]!.size + 1 }, ...good.files.slice(1)] }],
      ["a file sealed to more recipients", { ...good, files: [{ ...good.files[0]!, size: sealedSize(100_000, 3) }, ...good.files.slice(1)] }],
      ["seal.age not last", { ...good, files: [...good.files.slice(0, 2), { ...good.files[2]!, name: "3.age" }] }],
    ];
    for (const [why, t] of bad) {
      const err = await openSeal(sealed, [k.identity], t).catch((e: unknown) => e);
      expect(err, why).toBeInstanceOf(SealError);
      expect((err as SealError).code, why).toBe("seal_mismatch");
    }
    expect(await openSeal(sealed, [k.identity], good)).toMatchObject({ transferId });
    // and what is not a seal document at all
    expect(() => decodeSeal(new TextEncoder().encode('{"pushdrop":"seal","v":2}'))).toThrow(SealError);
    const valid = JSON.parse(new TextDecoder().decode(encodeSeal(d, transferId)));
    expect(sealDocumentProblem(valid)).toBeNull();
    const f0 = valid.files[0];
    for (const [why, broken] of [
      ["an extra field", { ...valid, extra: 1 }],
      ["a missing field", { ...valid, message: undefined }],
      ["version 2", { ...valid, v: 2 }],
      ["a bad transfer id", { ...valid, transferId: "short" }],
      ["a bad sender", { ...valid, from: "12345678" }],
      ["no recipients", { ...valid, to: [] }],
      ["a number as message", { ...valid, message: 5 }],
      ["upper-case sha256", { ...valid, files: [{ ...f0, sha256: f0.sha256.toUpperCase() }] }],
      ["a negative size", { ...valid, files: [{ ...f0, size: -1 }] }],
      ["an empty name", { ...valid, files: [{ ...f0, name: "" }] }],
      ["a file field too many", { ...valid, files: [{ ...f0, path: "/etc" }] }],
    ] as const) {
      expect(sealDocumentProblem(broken), why).not.toBeNull();
    }
    expect(() => checkSeal(decodeSeal(encodeSeal(d, transferId)), good)).not.toThrow();
  });

  it("refuses files and a seal sealed to more keys than the recipients it names (the sender's own aside) or fewer, each file's header counted too", async () => {
    const [k, k2, own, spy] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity(), generateIdentity()]);
    const d = draft(files); // names two recipients; its sender is not one of them
    // the recipients and the sender's own key (so that its outbox can read it): opens
    const withOwn = await sealDocument(d, transferId, [k.recipient, k2.recipient, own.recipient]);
    expect((await openSeal(withOwn, [k.identity], transferOf(d, 3))).transferId).toBe(transferId);
    // a key more than that (someone reading along): refused, though the sizes agree with each other
    const four = await sealDocument(d, transferId, [k.recipient, k2.recipient, own.recipient, spy.recipient]);
    const err4 = await openSeal(four, [k.identity], transferOf(d, 4)).catch((e: unknown) => e);
    expect(err4).toBeInstanceOf(SealError);
    expect((err4 as SealError).code).toBe("seal_mismatch");
    expect((err4 as Error).message).toContain("sealed to 4 keys, the seal names 2 recipients (and allows one key more: the sender's own)");
    // without the seal's own size (checkSeal alone): the files' sizes say how many keys
    const doc = decodeSeal(encodeSeal(d, transferId));
    expect(() => checkSeal(doc, transferOf(d, 4))).toThrow(/1\.age is sealed to 4 keys/);
    expect(() => checkSeal(doc, transferOf(d, 3))).not.toThrow();
    expect(() => checkSeal(doc, transferOf(d, 2))).not.toThrow();
    // one key fewer: a recipient left out
    const one = await sealDocument(d, transferId, [k.recipient]);
    await expect(openSeal(one, [k.identity], transferOf(d, 1))).rejects.toMatchObject({ code: "seal_mismatch" });
    expect(() => checkSeal(doc, transferOf(d, 1))).toThrow(/sealed to 1 keys/);
    // a sender among the recipients has its key there already: no key more
    const toSelf: SealDraft = { ...d, to: [d.from, "772586192"] };
    const selfDoc = decodeSeal(encodeSeal(toSelf, transferId));
    const selfT = { ...transferOf(toSelf, 3), to: [...toSelf.to].sort() };
    expect(() => checkSeal(selfDoc, selfT)).toThrow(/sealed to 3 keys, the seal names 2 recipients$/);
    expect(() => checkSeal(selfDoc, { ...transferOf(toSelf, 2), to: [...toSelf.to].sort() })).not.toThrow();

    // a file's header: exactly `recipients` stanzas, all X25519
    const plain = randomBytes(70_000);
    const e = new Encrypter();
    e.addRecipient(k.recipient);
    e.addRecipient(k2.recipient);
    const two = await e.encrypt(plain);
    const expected = { sealedSize: two.length, size: plain.length, sha256: sha256(plain) };
    expect((await collect(await openStream(streamOf(two), [k.identity], { ...expected, recipients: 2 }))).equals(plain)).toBe(true);
    await expect(openStream(streamOf(two), [k.identity], { ...expected, recipients: 1 })).rejects.toMatchObject({ code: "seal_mismatch" });
    await expect(openStream(streamOf(two), [k.identity], { ...expected, recipients: 3 })).rejects.toMatchObject({ code: "seal_mismatch" });
    expect((await collect(await openStream(streamOf(two), [k.identity], { ...expected, recipients: [1, 2] }))).equals(plain)).toBe(true);
    // a stanza of another kind beside ours (its size would not count as a 98-byte X25519 one): refused
    const odd = new Encrypter();
    odd.addRecipient(k.recipient);
    odd.addRecipient({ wrapFileKey: (fileKey: Uint8Array) => [new Stanza(["example.org/reader"], fileKey)] } as unknown as string);
    const spied = await odd.encrypt(plain);
    await expect(openStream(streamOf(spied), [k.identity], { size: plain.length, sha256: sha256(plain) })).rejects.toMatchObject({
      code: "seal_mismatch",
      message: expect.stringContaining("not an X25519 key"),
    });
    // (age itself opens it: the refusal is pushdrop's)
    expect((await collect(await openStream(streamOf(spied), [k.identity]))).equals(plain)).toBe(true);
  });

  it("is opened only by the recipients' identities", async () => {
    const k = await generateIdentity();
    const other = await generateIdentity();
    const d = draft(files);
    await expect(openSeal(await sealDocument(d, transferId, [k.recipient]), [other.identity], transferOf(d, 1))).rejects.toThrow(
      /no identity matched/i,
    );
  });
});

describe("safety numbers", () => {
  /** The derivation as docs/security.md states it, written again with node:crypto. */
  function reference(id: string, key: Uint8Array): string {
    let h = createHash("sha512").update(Buffer.from([0, 0])).update(key).update(id).digest();
    for (let i = 0; i < 5200; i++) h = createHash("sha512").update(h).update(key).digest();
    let s = "";
    for (let i = 0; i < 30; i += 5) s += String(h.readUIntBE(i, 5) % 100000).padStart(5, "0");
    return s;
  }

  it("a fingerprint is 30 digits derived as documented; the pair's number is 60, the same on both sides", async () => {
    const a = { id: "578418129", key: (await generateIdentity()).recipient };
    const b = { id: "772586192", key: (await generateIdentity()).recipient };
    const fa = fingerprint(a);
    expect(fa).toMatch(/^\d{30}$/);
    expect(fa).toBe(reference(a.id, recipientBytes(a.key)!));
    const n = safetyNumber(a, b);
    expect(n).toMatch(/^\d{60}$/);
    expect(safetyNumber(b, a)).toBe(n);
    expect(n).toBe([fa, fingerprint(b)].sort().join(""));
    expect(formatDigits(n).split(" ")).toHaveLength(12);
  });

  it("changes when a key is swapped, and verify accepts only the right number", async () => {
    const a = { id: "578418129", key: (await generateIdentity()).recipient };
    const b = { id: "772586192", key: (await generateIdentity()).recipient };
    const mallory = { ...b, key: (await generateIdentity()).recipient };
    const n = safetyNumber(a, b);
    expect(safetyNumber(a, mallory)).not.toBe(n);
    expect(fingerprint({ ...a, id: "111111111" })).not.toBe(fingerprint(a));
    expect(verifySafetyNumber(a, b, formatDigits(n))).toBe(true);
    expect(verifySafetyNumber(a, b, n)).toBe(true);
    expect(verifySafetyNumber(a, mallory, n)).toBe(false);
    expect(verifySafetyNumber(a, b, n.slice(0, -1) + ((Number(n.at(-1)) + 1) % 10))).toBe(false);
    expect(verifySafetyNumber(a, b, fingerprint(b))).toBe(true);
    expect(verifySafetyNumber(a, b, fingerprint(a))).toBe(false);
    expect(verifySafetyNumber(a, b, "")).toBe(false);
  });
});

describe("trust: which key to seal to", () => {
  it("pins on first use, from a link, verified from a scanned QR; refuses a link key the server does not publish", async () => {
    const k = (await generateIdentity()).recipient;
    const other = (await generateIdentity()).recipient;
    expect(decideTrust({ published: null })).toEqual({ kind: "no_key" });
    expect(decideTrust({ published: k })).toEqual({ kind: "seal", pin: { key: k, verified: false } });
    expect(decideTrust({ published: k, link: { key: k, scanned: false } })).toEqual({ kind: "seal", pin: { key: k, verified: false } });
    expect(decideTrust({ published: k, link: { key: k, scanned: true } })).toEqual({ kind: "seal", pin: { key: k, verified: true } });
    // a verified pin stays verified when the same key comes by link
    expect(decideTrust({ pinned: { key: k, verified: true }, published: k, link: { key: k, scanned: false } })).toEqual({
      kind: "seal",
      pin: { key: k, verified: true },
    });
    expect(decideTrust({ published: other, link: { key: k, scanned: true } })).toMatchObject({ kind: "link_refused" });
    expect(decideTrust({ published: null, link: { key: k, scanned: false } })).toMatchObject({ kind: "link_refused" });
    expect(decideTrust({ published: k, link: { key: "age1nonsense", scanned: false } })).toMatchObject({ kind: "link_refused" });
    const pq = await identityToRecipient(await generateHybridIdentity());
    expect(decideTrust({ published: pq })).toMatchObject({ kind: "bad_key" });
  });

  it("a changed or withdrawn key is a key change, never a re-pin or a reason to send plain; a verified contact must be verified again", async () => {
    const k = (await generateIdentity()).recipient;
    const k2 = (await generateIdentity()).recipient;
    const pinned = { key: k, verified: false };
    expect(decideTrust({ pinned, published: k })).toEqual({ kind: "seal", pin: pinned });
    const changed = decideTrust({ pinned, published: k2 });
    expect(changed).toEqual({ kind: "key_changed", pinned: k, published: k2, reverify: false });
    expect(decideTrust({ pinned, published: null })).toEqual({ kind: "key_changed", pinned: k, published: null, reverify: false });
    // a link with a new key (that the server also publishes) does not re-pin
    expect(decideTrust({ pinned, published: k2, link: { key: k2, scanned: false } })).toMatchObject({ kind: "key_changed" });
    if (changed.kind !== "key_changed") throw new Error("unreachable");
    expect(acceptKey(changed)).toEqual({ key: k2, verified: false });
    const verifiedChange = decideTrust({ pinned: { key: k, verified: true }, published: k2 });
    if (verifiedChange.kind !== "key_changed") throw new Error(`expected a key change, got ${verifiedChange.kind}`);
    expect(verifiedChange.reverify).toBe(true);
    expect(acceptKey(verifiedChange)).toBeNull();
    expect(acceptKey(verifiedChange, true)).toEqual({ key: k2, verified: true });
    const withdrawn = decideTrust({ pinned, published: null });
    if (withdrawn.kind !== "key_changed") throw new Error("unreachable");
    expect(acceptKey(withdrawn)).toBeNull();
  });

  it("a refused link key kept for a contact with no pin stops first use of the published key, until a pin or an agreeing link", async () => {
    const k = (await generateIdentity()).recipient; // what the server publishes
    const linked = (await generateIdentity()).recipient; // what the refused link carried
    const k3 = (await generateIdentity()).recipient;
    // without the kept refusal, the published key is trusted on first use; with it, not
    expect(decideTrust({ published: k })).toMatchObject({ kind: "seal" });
    expect(decideTrust({ published: k, refused: linked })).toEqual({ kind: "link_refused", link: linked, published: k });
    // none published: nothing can be sealed anyway (no_key, sent only with Sealed off, as for any keyless contact)
    expect(decideTrust({ published: null, refused: linked })).toEqual({ kind: "no_key" });
    // a refusal is not a reason to send plain, nor to pin what the server publishes next
    expect(decideTrust({ published: k3, refused: linked })).toMatchObject({ kind: "link_refused" });
    // a pin (the safety number compared: verified; or an earlier pin) decides, not the refusal
    expect(decideTrust({ pinned: { key: k, verified: true }, published: k, refused: linked })).toEqual({ kind: "seal", pin: { key: k, verified: true } });
    expect(decideTrust({ pinned: { key: k, verified: false }, published: k3, refused: linked })).toMatchObject({ kind: "key_changed" });
    // a later link carrying the published key pins it; one carrying another is refused again
    expect(decideTrust({ published: k, refused: linked, link: { key: k, scanned: false } })).toEqual({ kind: "seal", pin: { key: k, verified: false } });
    expect(decideTrust({ published: k, refused: linked, link: { key: k, scanned: true } })).toEqual({ kind: "seal", pin: { key: k, verified: true } });
    expect(decideTrust({ published: k, refused: linked, link: { key: k3, scanned: false } })).toEqual({ kind: "link_refused", link: k3, published: k });
    // the server now publishes the key the link carried: link and server agree, as a link that pins
    expect(decideTrust({ published: linked, refused: linked })).toEqual({ kind: "seal", pin: { key: linked, verified: false } });
  });

  it("share links carry the whole key in the fragment", async () => {
    const k = (await generateIdentity()).recipient;
    const link = shareLink("https://pushdrop.example/", "578418129", k);
    expect(link).toBe(`https://pushdrop.example/?to=578418129#k=${k}`);
    expect(parseShareLink(link)).toEqual({ to: "578418129", key: k });
    expect(parseShareLink(shareLink("https://pushdrop.example", "578418129", null))).toEqual({ to: "578418129", key: null });
    expect(parseShareLink("https://pushdrop.example/")).toBeNull();
    expect(parseShareLink("not a link")).toBeNull();
  });
});
