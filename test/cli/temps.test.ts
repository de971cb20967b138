import path from "node:path";
import { describe, expect, it } from "vitest";
import { fileDownload, packageDownload, unpacking } from "../../cli/temps";

/** cli/temps.ts: the CLI's own files beside what it saves. */
describe("temporary file names", () => {
  it("are hidden, name their transfer, and never coincide (an unpack must not remove a `get --file` download)", () => {
    const id = "AbCdEfGh-_12345678901z";
    const names = [packageDownload("/d", id), fileDownload("/d", id, 0), unpacking("/d", id, 0)];
    expect(names).toEqual(["/d/.pushdrop-AbCdEfGh-_12345678901z.zip.part", "/d/.pushdrop-AbCdEfGh-0.part", "/d/.pushdrop-AbCdEfGh-0.unpacking"]);
    expect(new Set(names).size).toBe(3);
    expect(fileDownload("/d", id, 1)).not.toBe(fileDownload("/d", id, 0));
  });

  it("keep an id with characters a file name cannot hold inside the folder", () => {
    for (const name of [packageDownload("/d", "../../x/y"), fileDownload("/d", "../../x", 2), unpacking("/d", "a/../..", 3)]) {
      expect(path.dirname(name)).toBe("/d");
      expect(path.basename(name)).toMatch(/^\.pushdrop-[A-Za-z0-9_-]+(-\d+)?\.(zip\.part|part|unpacking)$/);
    }
  });
});
