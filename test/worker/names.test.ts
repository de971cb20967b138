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
  expect(name).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]/);
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
