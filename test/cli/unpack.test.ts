import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CliError } from "../../cli/exit";
import { safeSegments, unpackPackage } from "../../cli/unpack";
import { readZipEntries } from "../../cli/zip";
import { makePackage, sha256 } from "./support/zip";

/**
 * Unpacking never writes outside the target folder: hostile names are an error for the whole
 * package (nothing written), links planted in the folder are never followed, and every file
 * is checked against the manifest before any lands in place.
 */

const ID = "T".repeat(22);
let base: string;
let dir: string;
let outside: string;

beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), "pushdrop-unpack-"));
  dir = path.join(base, "D");
  outside = path.join(base, "outside");
  mkdirSync(dir);
  mkdirSync(outside);
});
afterEach(() => rmSync(base, { recursive: true, force: true }));

function tree(root: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(d, e.name), r);
      else out.push(e.isSymbolicLink() ? `${r} -> link` : r);
    }
  };
  walk(root, "");
  return out;
}

async function unpack(files: Array<{ name: string; data: Buffer; sha256?: string }>, extra: Array<{ name: string; data: Buffer }> = []) {
  const { zip, transfer } = makePackage(ID, files, extra);
  const file = path.join(base, "package.zip");
  writeFileSync(file, zip);
  return unpackPackage(file, dir, transfer);
}

async function refused(p: Promise<unknown>, code: string) {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(CliError);
  expect((e as CliError).code).toBe(code);
  expect((e as CliError).exitCode).toBe(5);
}

describe("safeSegments", () => {
  it.each([
    ["../evil.txt", "parent"],
    ["a/../../evil.txt", "parent"],
    ["..", "parent"],
    ["/etc/passwd", "absolute"],
    ["C:\\Windows\\evil.dll", "backslash"],
    ["C:evil.txt", "drive"],
    ["c:/evil.txt", "drive"],
    ["a\\..\\..\\evil.txt", "backslash"],
    ["a\u0000b.txt", "control"],
    ["a\nb.txt", "control"],
    ["a//b.txt", "empty"],
    ["./a.txt", "empty"],
    ["a/./b.txt", "empty"],
    ["a/", "empty"],
    ["", "empty"],
    ["file.txt:stream", "colon"],
    [`${"x".repeat(256)}.txt`, "255"],
  ])("refuses %j (%s)", (name, why) => {
    expect(() => safeSegments(name, "linux")).toThrow(CliError);
    expect(() => safeSegments(name, "linux")).toThrow(why);
  });

  it("keeps folders, spaces, quotes, accents, CJK and emoji", () => {
    expect(safeSegments("photos/2024/été \"best\" 写真 🎉.jpg", "linux")).toEqual(["photos", "2024", 'été "best" 写真 🎉.jpg']);
    expect(safeSegments(".hidden/..dots..txt", "linux")).toEqual([".hidden", "..dots..txt"]);
  });

  it("on Windows also refuses device names and characters Windows cannot store", () => {
    for (const n of ["CON", "nul.txt", "a/COM1.log", "LPT9", "a<b", "what?", "trailing.", "trailing "]) {
      expect(() => safeSegments(n, "win32"), n).toThrow(CliError);
    }
    expect(safeSegments("CONTACTS.txt", "win32")).toEqual(["CONTACTS.txt"]);
  });
});

describe("unpackPackage", () => {
  it("writes every file under its folders, checked, and nothing else", async () => {
    const files = [
      { name: "tree/a.txt", data: Buffer.from("alpha") },
      { name: "tree/sub/déjà vu ✓.txt", data: Buffer.from("beta") },
      { name: "empty", data: Buffer.alloc(0) },
    ];
    const { saved } = await unpack(files);
    expect(tree(dir)).toEqual(["empty", "tree/a.txt", "tree/sub/déjà vu ✓.txt"]);
    expect(readFileSync(path.join(dir, "tree/sub/déjà vu ✓.txt"), "utf8")).toBe("beta");
    expect(saved.map((s) => [s.name, s.alreadyThere])).toEqual([
      ["tree/a.txt", false],
      ["tree/sub/déjà vu ✓.txt", false],
      ["empty", false],
    ]);
    expect(readdirSync(base).sort()).toEqual(["D", "outside", "package.zip"]);
  });

  it.each(["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "C:\\evil.txt", "C:evil.txt", "a\u0000.txt", "a//b"])(
    "refuses a package holding %j and writes nothing at all",
    async (name) => {
      await refused(unpack([{ name: "fine.txt", data: Buffer.from("ok") }, { name, data: Buffer.from("evil") }]), "unsafe_name");
      expect(tree(dir)).toEqual([]);
      expect(tree(outside)).toEqual([]);
      expect(readdirSync(base).sort()).toEqual(["D", "outside", "package.zip"]);
    },
  );

  it("never follows a symbolic link planted in the folder", async () => {
    symlinkSync(outside, path.join(dir, "sub"));
    await refused(unpack([{ name: "sub/x.txt", data: Buffer.from("evil") }]), "unsafe_name");
    expect(tree(outside)).toEqual([]);
  });

  it("does not write through a link that sits where a file goes: the file takes another name", async () => {
    const victim = path.join(outside, "victim.txt");
    writeFileSync(victim, "untouched");
    symlinkSync(victim, path.join(dir, "x.txt"));
    const { saved } = await unpack([{ name: "x.txt", data: Buffer.from("new") }]);
    expect(readFileSync(victim, "utf8")).toBe("untouched");
    expect(saved[0]!.path).toBe(path.join(dir, "x (2).txt"));
    expect(readFileSync(path.join(dir, "x (2).txt"), "utf8")).toBe("new");
  });

  it("keeps an existing file: the same bytes are left as they are, other bytes get ' (2)'", async () => {
    writeFileSync(path.join(dir, "same.txt"), "same");
    writeFileSync(path.join(dir, "other.txt"), "mine");
    const { saved } = await unpack([
      { name: "same.txt", data: Buffer.from("same") },
      { name: "other.txt", data: Buffer.from("theirs") },
    ]);
    expect(saved.map((s) => [path.basename(s.path), s.alreadyThere])).toEqual([
      ["same.txt", true],
      ["other (2).txt", false],
    ]);
    expect(readFileSync(path.join(dir, "other.txt"), "utf8")).toBe("mine");
    expect(tree(dir)).toEqual(["other (2).txt", "other.txt", "same.txt"]);
  });

  it("refuses bytes that do not match the manifest's sha256, and keeps none of the files", async () => {
    await refused(
      unpack([
        { name: "good.txt", data: Buffer.from("good") },
        { name: "dir/bad.txt", data: Buffer.from("bad"), sha256: sha256("something else") },
      ]),
      "sha256_mismatch",
    );
    expect(tree(dir)).toEqual([]);
  });

  it("refuses an entry the manifest does not list", async () => {
    await refused(unpack([{ name: "a.txt", data: Buffer.from("a") }], [{ name: "../../stowaway", data: Buffer.from("x") }]), "bad_package");
    expect(tree(dir)).toEqual([]);
  });

  it("refuses a manifest that disagrees with the transfer the API described", async () => {
    const { zip, transfer } = makePackage(ID, [{ name: "a.txt", data: Buffer.from("a") }]);
    const file = path.join(base, "package.zip");
    writeFileSync(file, zip);
    const lying = { ...(transfer as { id: string; files: Array<Record<string, unknown>> }) };
    lying.files = [{ ...lying.files[0]!, sha256: sha256("b") }];
    await refused(unpackPackage(file, dir, lying as never), "bad_package");
  });
});

describe("readZipEntries", () => {
  it("reads a ZIP written by Python's zipfile (stored and deflated) at the right offsets", async () => {
    const file = path.join(base, "py.zip");
    execFileSync("python3", [
      "-c",
      `import zipfile,sys
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr(zipfile.ZipInfo("stored/é.bin"), b"x" * 70000, compress_type=zipfile.ZIP_STORED)
    z.writestr("deflated.txt", b"hello " * 1000, compress_type=zipfile.ZIP_DEFLATED)`,
      file,
    ]);
    const entries = await readZipEntries(file);
    expect(entries.map((e) => [e.name, e.method, e.size])).toEqual([
      ["stored/é.bin", 0, 70000],
      ["deflated.txt", 8, 6000],
    ]);
    const bytes = readFileSync(file);
    const e = entries[0]!;
    expect(bytes.subarray(e.dataOffset, e.dataOffset + e.size).equals(Buffer.alloc(70000, "x"))).toBe(true);
  });

  it("calls a file that is not a ZIP a bad package", async () => {
    const file = path.join(base, "not.zip");
    writeFileSync(file, "this is not a zip archive at all");
    await refused(readZipEntries(file), "bad_package");
  });
});
