import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { spansOf, type FileAt } from "../../src/deliver/coverage";

/** src/deliver/coverage.ts: which file bytes a response of the package (or of one file) holds. */

// a package of three files: 100 bytes at 30, an empty one at 170, 50 bytes at 200 (headers between)
const files: FileAt[] = [
  { idx: 0, offset: 30, size: 100 },
  { idx: 1, offset: 170, size: 0 },
  { idx: 2, offset: 200, size: 50 },
];

describe("spansOf", () => {
  it("a whole package response holds every file, had to its end", () => {
    expect(spansOf(files, 0, 300, 300)).toEqual([
      { idx: 0, from: 0, to: 100, has: 100 },
      { idx: 1, from: 0, to: 0, has: 0 },
      { idx: 2, from: 0, to: 50, has: 50 },
    ]);
  });

  it("a response cut short: credited to `end`, had only to what was sent in whole pieces", () => {
    expect(spansOf(files, 0, 229, 80)).toEqual([
      { idx: 0, from: 0, to: 100, has: 50 },
      { idx: 1, from: 0, to: 0, has: 0 },
      { idx: 2, from: 0, to: 29, has: 0 },
    ]);
  });

  it("a resume from inside file 2 says the client has the files wholly before it", () => {
    expect(spansOf(files, 210, 300, 300)).toEqual([
      { idx: 0, from: 100, to: 100, has: 100 },
      { idx: 2, from: 10, to: 50, has: 50 },
    ]);
  });

  it("a read of the end alone holds no file bytes (only what lies before it, as a claim)", () => {
    const spans = spansOf(files, 280, 300, 300);
    expect(spans.every((s) => s.from === s.to && s.to === files.find((f) => f.idx === s.idx)!.size)).toBe(true);
    expect(spans.map((s) => s.idx)).toEqual([0, 2]); // never the empty file: it has no bytes to claim
  });

  it("one file alone is that file at offset 0", () => {
    const one = [{ idx: 4, offset: 0, size: 1000 }];
    expect(spansOf(one, 0, 1000, 1000)).toEqual([{ idx: 4, from: 0, to: 1000, has: 1000 }]);
    expect(spansOf(one, 500, 999, 700)).toEqual([{ idx: 4, from: 500, to: 999, has: 700 }]);
    expect(spansOf([{ idx: 0, offset: 0, size: 0 }], 0, 0, 0)).toEqual([{ idx: 0, from: 0, to: 0, has: 0 }]);
  });

  it("property: every span lies within its file, from ≤ has ≤ to, and holds exactly the overlap", () => {
    const layout = fc.array(fc.tuple(fc.nat(50), fc.nat(200)), { minLength: 1, maxLength: 8 }).map((gapsAndSizes) => {
      let at = 0;
      return gapsAndSizes.map(([gap, size], idx) => {
        at += gap + 30; // a local header at least
        const f = { idx, offset: at, size };
        at += size;
        return f;
      });
    });
    fc.assert(
      fc.property(layout, fc.nat(3000), fc.nat(3000), fc.nat(3000), (fs, a, b, c) => {
        const total = fs.at(-1)!.offset + fs.at(-1)!.size + 22;
        const [start, sentEnd, end] = [a % total, b % total, c % total].sort((x, y) => x - y) as [number, number, number];
        for (const s of spansOf(fs, start, end, sentEnd)) {
          const f = fs[s.idx]!;
          expect(0 <= s.from && s.from <= s.has && s.has <= s.to && s.to <= f.size).toBe(true);
          if (f.offset + f.size <= start) {
            expect(s).toEqual({ idx: f.idx, from: f.size, to: f.size, has: f.size });
          } else if (f.size > 0) {
            expect(s.from).toBe(Math.max(start, f.offset) - f.offset);
            expect(s.to).toBe(Math.min(end, f.offset + f.size) - f.offset);
            expect(s.has).toBe(Math.max(s.from, Math.min(sentEnd, f.offset + f.size) - f.offset));
          }
        }
        // every non-empty file that overlaps [start, end) has a span
        for (const f of fs) {
          const overlaps = f.size > 0 && f.offset < end && start < f.offset + f.size;
          if (overlaps) expect(spansOf(fs, start, end, sentEnd).some((s) => s.idx === f.idx)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});
