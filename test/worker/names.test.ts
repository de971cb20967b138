import { describe, expect, it } from "vitest";
import { unzipSync } from "fflate";
import { contentDisposition } from "../../src/deliver/disposition";
import { cleanPath, safeNames } from "../../src/package/names";
import { api, createTransfer, dispositionName, json, register, sendFiles } from "./helpers";

const utf8 = (s: string) => new TextEncoder().encode(s).byteLength;
const names = (raw: string[]) => {
  const r = safeNames(raw);
  if (!r.ok) throw new Error(`unexpected failure at ${r.index}`);
  return r.names;
};
/** What no safe name may contain: a traversal segment, a leading separator, a backslash, controls, bidi overrides. */
function assertSafe(name: string) {
  expect(name).not.toMatch(/^[/\\]/);
  expect(name).not.toMatch(/\\/);
  expect(name.split("/")).not.toContain("..");
  expect(name.split("/")).not.toContain(".");
  expect(name.split("/")).not.toContain("");
  expect(name).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/);
  expect(name).not.toMatch(/^[A-Za-z]:/);
  expect(name.normalize("NFC")).toBe(name);
  for (const seg of name.split("/")) {
    expect(utf8(seg)).toBeLessThanOrEqual(255);
    expect(seg).toBe(seg.trim());
    expect(seg).not.toMatch(/\.$/);
  }
}

describe("safe names", () => {
  it("never escape the folder they are unpacked into", () => {
    const cases: Array<[string, string]> = [
      ["../../etc/passwd", "etc/passwd"],
      ["/etc/passwd", "etc/passwd"],
      ["//server/share/x.txt", "server/share/x.txt"],
      ["..\\..\\Windows\\win.ini", "Windows/win.ini"],
      ["a/./b/../c.txt", "a/b/c.txt"],
      ["photos\\2024\\a.jpg", "photos/2024/a.jpg"],
      ["C:\\Users\\me\\evil.exe", "Users/me/evil.exe"],
      ["c:/autoexec.bat", "autoexec.bat"],
      ["...", null as unknown as string],
    ];
    for (const [raw, want] of cases) {
      const got = cleanPath(raw);
      expect(got, raw).toBe(want);
      if (got) assertSafe(got);
    }
  });

  it("drop control characters and bidi overrides, trim spaces and trailing dots", () => {
    expect(cleanPath("a\u0000b\nc\rd\te.txt")).toBe("abcde.txt");
    expect(cleanPath("invoice\u202Egpj.exe")).toBe("invoicegpj.exe");
    expect(cleanPath("\u2066x\u2069\u200f.pdf")).toBe("x.pdf");
    expect(cleanPath("\ufeffbom.txt")).toBe("bom.txt");
    expect(cleanPath("  spaced.txt  ")).toBe("spaced.txt");
    expect(cleanPath("trailing.txt. . .")).toBe("trailing.txt");
    expect(cleanPath("dir. /file")).toBe("dir/file");
    // quotes and other punctuation are kept: legal in names, carried by Content-Disposition
    expect(cleanPath(`say "hi"; it's 100% (ok).txt`)).toBe(`say "hi"; it's 100% (ok).txt`);
  });

  it("follow the one name rule (src/contract/names.ts): invisible and bidi characters go, joiners stay in words and emoji", () => {
    // the characters the abuse probe found kept (issue 21, row 7)
    expect(cleanPath("manifest.json\u200b")).toBe("manifest.json");
    expect(cleanPath("report\u2028.pdf")).toBe("report.pdf");
    expect(cleanPath("\u061cinvoice.pdf")).toBe("invoice.pdf");
    expect(cleanPath("a\u2060b\u2029c\u00adé.txt")).toBe("abcé.txt");
    // Persian, Devanagari and emoji keep theirs; a joiner next to a dot or a separator goes
    expect(cleanPath("نامه\u200cها/می\u200cخواهم.txt")).toBe("نامه\u200cها/می\u200cخواهم.txt");
    expect(cleanPath("क्\u200dष 👩🏽\u200d💻.png")).toBe("क्\u200dष 👩🏽\u200d💻.png");
    expect(cleanPath("a\u200d.txt")).toBe("a.txt");
    expect(cleanPath("a\u200c/\u200cb")).toBe("a/b");
    // cut at 255 bytes right after a joiner: the joiner goes with what it joined
    expect(cleanPath("a".repeat(252) + "\u200cbc")).toBe("a".repeat(252));
    expect(cleanPath("a".repeat(248) + "\u200cbcdef.txt")).toBe("a".repeat(248) + ".txt");
    // a name that only looks like another is that name: reserved, or a duplicate
    expect(names(["manifest.json\u200b"])).toEqual(["manifest (2).json"]);
    expect(names(["a.txt", "a\u200b.txt", "\u2066a.txt\u2069"])).toEqual(["a.txt", "a (2).txt", "a (3).txt"]);
  });

  it("defuse Windows device names in any segment, with any extension and case", () => {
    expect(cleanPath("CON.txt")).toBe("_CON.txt");
    expect(cleanPath("con")).toBe("_con");
    expect(cleanPath("nul.tar.gz")).toBe("_nul.tar.gz");
    expect(cleanPath("docs/COM1.log")).toBe("docs/_COM1.log");
    expect(cleanPath("LPT9")).toBe("_LPT9");
    expect(cleanPath("aux/readme")).toBe("_aux/readme");
    expect(cleanPath("console.txt")).toBe("console.txt");
  });

  it("cannot address an NTFS alternate data stream, and keep quotes and other punctuation", () => {
    expect(cleanPath("invoice.pdf.exe:Zone.Identifier")).toBe("invoice.pdf.exe_Zone.Identifier");
    expect(cleanPath("notes/10:30 meeting.txt")).toBe("notes/10_30 meeting.txt");
    expect(cleanPath('he said "hi" <3 & left?.txt')).toBe('he said "hi" <3 & left?.txt');
  });

  it("are NFC", () => {
    const decomposed = "Cafe\u0301 re\u0301sume\u0301.txt";
    expect(cleanPath(decomposed)).toBe("Café résumé.txt");
    expect(cleanPath(decomposed)).toBe("Café résumé.txt".normalize("NFC"));
    // the same name typed two ways is one name: the second is a duplicate
    expect(names(["é.txt", "e\u0301.txt"])).toEqual(["é.txt", "é (2).txt"]);
  });

  it("cap each segment at 255 UTF-8 bytes and keep the extension", () => {
    const long = cleanPath("a".repeat(300) + ".txt")!;
    expect(utf8(long)).toBe(255);
    expect(long.endsWith(".txt")).toBe(true);

    const accented = cleanPath("é".repeat(200) + ".jpeg")!; // 2 bytes each
    expect(utf8(accented)).toBeLessThanOrEqual(255);
    expect(utf8(accented)).toBeGreaterThan(250);
    expect(accented.endsWith(".jpeg")).toBe(true);

    const emoji = cleanPath("😀".repeat(100) + ".png")!; // 4 bytes each, surrogate pairs in JS
    expect(utf8(emoji)).toBeLessThanOrEqual(255);
    expect(emoji.endsWith(".png")).toBe(true);
    expect(emoji).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/); // no lone surrogate

    // folders are capped too, and the file name inside them survives
    const deep = cleanPath("d".repeat(400) + "/file.txt")!;
    expect(deep.split("/").map(utf8)[0]).toBeLessThanOrEqual(255);
    expect(deep.endsWith("/file.txt")).toBe(true);

    // a path over 1024 bytes keeps its file's own name
    const tooDeep = cleanPath(Array.from({ length: 10 }, (_, i) => `${i}`.repeat(200)).join("/") + "/keep.me")!;
    expect(utf8(tooDeep)).toBeLessThanOrEqual(1024);
    expect(tooDeep.endsWith("keep.me")).toBe(true);

    // with a duplicate suffix the name still fits
    const [a, b] = names(["x".repeat(300) + ".txt", "x".repeat(300) + ".txt"]);
    expect(utf8(a!)).toBeLessThanOrEqual(255);
    expect(utf8(b!)).toBeLessThanOrEqual(255);
    expect(b!.endsWith(" (2).txt")).toBe(true);
    expect(a).not.toBe(b);
  });

  it("make duplicates unique, case-insensitively, and against folder names", () => {
    expect(names(["a.txt", "A.TXT", "a.txt"])).toEqual(["a.txt", "A (2).TXT", "a (3).txt"]);
    expect(names(["docs", "docs/readme.md"])).toEqual(["docs (2)", "docs/readme.md"]);
    expect(names(["Docs/readme.md", "DOCS"])).toEqual(["Docs/readme.md", "DOCS (2)"]);
    expect(names(["d/a.txt", "d/A.txt"])).toEqual(["d/a.txt", "d/A (2).txt"]);
    // a suffixed name does not land on a name that exists already
    expect(names(["a", "a", "a (2)"])).toEqual(["a", "a (2)", "a (2) (2)"]);
    const r = names(["a", "a", "a (2)/x"]);
    expect(new Set(r.map((n) => n.toLowerCase())).size).toBe(3);
    expect(r[1]).not.toBe("a (2)"); // that is a folder
    // many duplicates: all distinct
    const many = names(Array.from({ length: 50 }, () => "same.bin"));
    expect(new Set(many.map((n) => n.toLowerCase())).size).toBe(50);
  });

  it("reserve manifest.json at the top level only", () => {
    expect(names(["manifest.json"])).toEqual(["manifest (2).json"]);
    expect(names(["MANIFEST.JSON"])).toEqual(["MANIFEST (2).JSON"]);
    expect(names(["sub/manifest.json"])).toEqual(["sub/manifest.json"]);
  });

  it("every name that survives is safe (a batch of hostile names)", () => {
    const hostile = [
      "../../etc/passwd", "/abs", "\\\\unc\\share\\x", "..", "a/../../b", "CON", "x\u202Eexe.txt",
      "é", "e\u0301", "🙂".repeat(80), " . ", "a\\..\\..\\b", "./././c", "D:evil", "z:\\",
    ];
    const r = safeNames(hostile);
    if (r.ok) throw new Error("'..' alone has no usable characters and must be refused");
    expect(r.index).toBe(3);
    const usable = hostile.filter((_, i) => i !== 3 && i !== 10 && i !== 14);
    const out = names(usable);
    for (const n of out) assertSafe(n);
    expect(new Set(out.map((n) => n.toLowerCase())).size).toBe(out.length);
  });

  it("the API refuses a name with nothing usable in it and cleans the rest", async () => {
    const alice = await register();
    const bob = await register();
    const bad = await createTransfer(alice, { to: [bob.id], files: [{ name: "ok.txt", size: 1 }, { name: "../..", size: 1 }] });
    expect(bad.status).toBe(400);
    const err = await json(bad);
    expect(err.error.code).toBe("invalid_file_name");
    expect(err.error.message).toContain("files[1]");

    const res = await createTransfer(alice, {
      to: [bob.id],
      files: [
        { name: "../../etc/passwd", size: 1 },
        { name: "CON.txt", size: 1 },
        { name: "manifest.json", size: 1 },
        { name: "Passwd", size: 1 },
        { name: "etc/PASSWD", size: 1 },
      ],
    });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(t.files.map((f: any) => f.name)).toEqual(["etc/passwd", "_CON.txt", "manifest (2).json", "Passwd", "etc/PASSWD (2)"]);
  });

  it("the API cleans file names by the name rule: a name that looks like manifest.json is not a second one", async () => {
    const alice = await register();
    const bob = await register();
    const res = await createTransfer(alice, {
      to: [bob.id],
      files: [
        { name: "manifest.json\u200b", size: 1 },
        { name: "report\u2028.pdf", size: 1 },
        { name: "\u061cinvoice\u202e.pdf", size: 1 },
        { name: "نامه\u200cها.txt", size: 1 },
      ],
    });
    expect(res.status).toBe(201);
    const t = await json(res);
    expect(t.files.map((f: any) => f.name)).toEqual(["manifest (2).json", "report.pdf", "invoice.pdf", "نامه\u200cها.txt"]);
    // nothing but invisible characters: nothing usable
    const bad = await createTransfer(alice, { to: [bob.id], files: [{ name: "\u200b\u2028\u200d", size: 1 }] });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.code).toBe("invalid_file_name");
  });

  it("terminal names follow the same rule, at registration and on rename", async () => {
    const spoof = await api("/v1/terminals", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "\u200dBank\u202e\u2066 support\u2028\u200b " }),
    });
    expect(spoof.status).toBe(201);
    const t = await json(spoof);
    expect(t.name).toBe("Bank support");
    expect((await json(await api(`/v1/terminals/${t.id}`))).name).toBe("Bank support");
    const renamed = await api(`/v1/terminals/${t.id}/settings`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${t.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "علی\u200cرضا 👨\u200d👩\u200d👧\u061c" }),
    });
    expect(renamed.status).toBe(200);
    expect((await json(renamed)).name).toBe("علی\u200cرضا 👨\u200d👩\u200d👧");
    // only invisible characters: the default name, as for ""
    const blank = await api(`/v1/terminals/${t.id}/settings`, {
      method: "PATCH",
      headers: { authorization: `Bearer ${t.token}`, "content-type": "application/json" },
      body: JSON.stringify({ name: "\u200b\u202e" }),
    });
    expect((await json(blank)).name).toMatch(/^Terminal \d{3} \d{3} \d{3}$/);
  });

  it("the package holds the cleaned names, and one manifest.json", async () => {
    const alice = await register();
    const bob = await register();
    const t = await sendFiles(alice, [bob], [
      { name: "../x/manifest.json", data: new Uint8Array([1]) },
      { name: "manifest.json", data: new Uint8Array([2]) },
      { name: "..\\évil\u202E.txt", data: new Uint8Array([3]) },
    ]);
    const res = await api(`/v1/transfers/${t.id}/package`, { headers: alice.auth });
    const entries = unzipSync(new Uint8Array(await res.arrayBuffer()));
    expect(Object.keys(entries).sort()).toEqual(["manifest (2).json", "manifest.json", "x/manifest.json", "évil.txt"].sort());
    expect([...entries["manifest (2).json"]!]).toEqual([2]);
    expect(JSON.parse(new TextDecoder().decode(entries["manifest.json"]!)).transferId).toBe(t.id);
  });
});

describe("Content-Disposition", () => {
  const tricky = [
    "plain.txt",
    "Résumé – final.pdf",
    'say "hi".txt',
    "semi;colon, comma.txt",
    "back\\slash.txt",
    "percent%20not-encoded.txt",
    "quote's (1) [2] {3} *star*.txt",
    "中文文件名.docx",
    "emoji 🎉🙂.png",
    "tab\tand\nnewline.txt",
    "a\r\nSet-Cookie: x=1.txt",
    "=?utf-8?q?encoded-word?=.txt",
  ];

  it("filename* carries the exact name back, and nothing breaks the header", () => {
    for (const name of tricky) {
      const header = contentDisposition(name);
      // a legal header value: no CR, LF or other controls (Headers would throw on some)
      expect(header).not.toMatch(/[\u0000-\u001f\u007f]/);
      expect(() => new Headers({ "content-disposition": header })).not.toThrow();
      expect(header.startsWith("attachment;")).toBe(true);
      // exactly one filename= and one filename*=, in that order (RFC 6266 §4.3)
      const m = /^attachment; filename="([^"]*)"; filename\*=UTF-8''([A-Za-z0-9!#$&+\-.^_`|~%]*)$/.exec(header);
      expect(m, header).not.toBeNull();
      // the fallback is printable ASCII without quote, backslash or percent
      expect(m![1]).toMatch(/^[\x20-\x7e]*$/);
      expect(m![1]).not.toMatch(/["\\%]/);
      const expected = name.replace(/[\u0000-\u001f\u007f]/g, "");
      expect(decodeURIComponent(m![2]!)).toBe(expected);
      expect(dispositionName(header)).toBe(expected);
    }
  });

  it("the ASCII fallback keeps what it can of the name", () => {
    expect(contentDisposition("Résumé.pdf")).toContain('filename="Resume.pdf"');
    expect(contentDisposition('a "b".txt')).toContain('filename="a _b_.txt"');
    expect(contentDisposition("x", "inline")).toMatch(/^inline; /);
    expect(contentDisposition("日本")).toContain('filename="__"');
    expect(contentDisposition("\u0000")).toContain('filename="download"');
  });

  it("a served file's header decodes back to its safe name", async () => {
    const alice = await register();
    const bob = await register();
    const name = `Ünïcødé "quoted"; 文件 🎉.txt`;
    const t = await sendFiles(alice, [bob], [{ name: `folder/${name}`, data: new TextEncoder().encode("hello") }]);
    const res = await api(`/v1/transfers/${t.id}/files/0`, { headers: bob.auth });
    expect(res.status).toBe(200);
    expect(dispositionName(res.headers.get("content-disposition"))).toBe(name);
    expect(await res.text()).toBe("hello");
    const pkg = await api(`/v1/transfers/${t.id}/package`, { method: "HEAD", headers: alice.auth });
    expect(dispositionName(pkg.headers.get("content-disposition"))).toMatch(/^pushdrop-.{8}\.zip$/);
  });
});

describe("names stored before the name rule are cleaned when shown", () => {
  it("a terminal's name and a file's name written raw (bidi override, zero-width space) are shown by the rule: lookup, settings, contacts, Transfer, key_changed, Content-Disposition", async () => {
    const { env, eventually, outboxOf } = await import("./helpers");
    const alice = await register("alice-raw");
    const bob = await register("bob-raw");
    const t = await sendFiles(alice, [bob], [{ name: "report.pdf", data: new TextEncoder().encode("pdf!") }]);
    // rows as a server before the rule wrote them
    const rawTerminal = "Ev\u202eil\u200b Bank\u2066";
    const rawFile = "invoice\u202egpj.exe\u200b";
    await env.DB.batch([
      env.DB.prepare("UPDATE terminals SET name = ? WHERE id = ?").bind(rawTerminal, alice.id),
      env.DB.prepare("UPDATE transfers SET sender_name = ? WHERE id = ?").bind(rawTerminal, t.id),
      env.DB.prepare("UPDATE transfer_files SET name = ? WHERE transfer_id = ?").bind(rawFile, t.id),
    ]);
    const cleanTerminal = "Evil Bank";
    const cleanFile = "invoicegpj.exe";

    expect((await json(await api(`/v1/terminals/${alice.id}`))).name).toBe(cleanTerminal);
    expect((await json(await api(`/v1/terminals/${alice.id}/settings`, { headers: alice.auth }))).name).toBe(cleanTerminal);
    // bob knows alice once he sent to her
    expect((await createTransfer(bob, { to: [alice.id], files: [], message: "hi" })).status).toBe(201);
    const settings = await json(await api(`/v1/terminals/${bob.id}/settings`, { headers: bob.auth }));
    expect(settings.contacts).toEqual([{ id: alice.id, name: cleanTerminal }]);

    const seen = await json(await api(`/v1/transfers/${t.id}`, { headers: bob.auth }));
    expect(seen.from.name).toBe(cleanTerminal);
    expect(seen.files[0].name).toBe(cleanFile);
    const inbox = await json(await api(`/v1/terminals/${bob.id}/inbox`, { headers: bob.auth }));
    const listed = inbox.transfers.find((x: any) => x.id === t.id);
    expect(listed.from.name).toBe(cleanTerminal);
    expect(listed.files[0].name).toBe(cleanFile);
    const file = await api(`/v1/transfers/${t.id}/files/0`, { headers: bob.auth });
    expect(file.status).toBe(200);
    expect(dispositionName(file.headers.get("content-disposition")!)).toBe(cleanFile);
    await file.arrayBuffer();

    // a key announcement names her by the rule too
    const { generateX25519Identity, identityToRecipient } = await import("age-encryption");
    const k = await identityToRecipient(await generateX25519Identity());
    expect((await api(`/v1/terminals/${alice.id}/key`, { method: "PUT", headers: { ...alice.auth, "content-type": "application/json" }, body: JSON.stringify({ key: k }) })).status).toBe(200);
    const announced = await eventually(async () => (await outboxOf(alice.id)).find((m) => m.type === "terminal.key_changed"), 5_000, "the announcement");
    expect(announced.body.terminal.name).toBe(cleanTerminal);
  });

  it("a terminal whose stored name is older than the rule sends a transfer: its package's manifest names it by the rule too", async () => {
    const { env } = await import("./helpers");
    const alice = await register("alice-raw-pkg");
    const bob = await register("bob-raw-pkg");
    await env.DB.prepare("UPDATE terminals SET name = ? WHERE id = ?").bind("Ev\u202eil\u200b Bank\u2066", alice.id).run();
    const t = await sendFiles(alice, [bob], [{ name: "a.txt", data: new Uint8Array([1]) }]);
    expect(t.from.name).toBe("Evil Bank");
    const res = await api(`/v1/transfers/${t.id}/package`, { headers: bob.auth });
    expect(res.status).toBe(200);
    const manifest = JSON.parse(new TextDecoder().decode(unzipSync(new Uint8Array(await res.arrayBuffer()))["manifest.json"]!));
    expect(manifest.from).toEqual({ id: alice.id, name: "Evil Bank" });
  });
});
