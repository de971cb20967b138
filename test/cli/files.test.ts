import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { collectFiles } from "../../cli/files";

/** What `pushdrop send <folder>` sends: its files, and nothing from outside it. */
const root = mkdtempSync(path.join(tmpdir(), "pushdrop-files-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it("sends a folder's files with their paths; a link inside it to one of its files is that file; a link out of it is left out", () => {
  const outside = path.join(root, "secret.txt");
  writeFileSync(outside, "not for sending");
  const dir = path.join(root, "photos");
  mkdirSync(path.join(dir, "2024"), { recursive: true });
  writeFileSync(path.join(dir, "2024", "a.jpg"), "aaaa");
  writeFileSync(path.join(dir, "b.txt"), "bb");
  symlinkSync(path.join(dir, "b.txt"), path.join(dir, "also-b.txt"));
  symlinkSync(outside, path.join(dir, "leak.txt"));
  symlinkSync("../..", path.join(dir, "2024", "up"));
  symlinkSync(path.join(dir, "missing"), path.join(dir, "broken"));

  const { files, skipped } = collectFiles([dir]);
  expect(files.map((f) => [f.name, f.size])).toEqual([
    ["photos/2024/a.jpg", 4],
    ["photos/also-b.txt", 2],
    ["photos/b.txt", 2],
  ]);
  expect(skipped).toEqual([
    "photos/2024/up: a symbolic link out of the folder (not followed)",
    "photos/broken: a broken symbolic link",
    "photos/leak.txt: a symbolic link out of the folder (not followed)",
  ]);
  // a file named on the command line is sent, link or not
  expect(collectFiles([path.join(dir, "leak.txt")]).files.map((f) => f.name)).toEqual(["leak.txt"]);
});
