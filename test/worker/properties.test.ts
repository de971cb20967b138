import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LARGE_PART_SIZE, MAX_NAME_BYTES, MAX_PACKAGE_BYTES, MAX_PARTS, MAX_PATH_BYTES, PART_SIZE } from "../../src/config";
import { parseRange } from "../../src/deliver/range";
import { cleanName, MANIFEST_NAME } from "../../src/contract";
import { cleanPath, safeNames } from "../../src/package/names";
import { isMultipart, partCount, partLength, partSizeFor, receivedBytes } from "../../src/receive/parts";

/**
 * Property-based tests (fast-check) of the pure code every upload and download goes through:
 * the file-name sanitiser, the part arithmetic and the Range parser. Each property holds for
 * every input fast-check can think of, not only for the examples in the feature tests.
 */

const bytes = (s: string) => new TextEncoder().encode(s).byteLength;

// ---- the name rule (src/contract/names.ts), restated here from docs/api.md ----------------------

/** Every code point the name rule drops, listed one by one (not as the implementation's regex). */
const DROPPED_CPS = [
  ...range(0x00, 0x1f), ...range(0x7f, 0x9f), 0xad, // controls, soft hyphen
  0x061c, 0x200e, 0x200f, ...range(0x202a, 0x202e), ...range(0x2066, 0x2069), // bidi controls
  0x200b, ...range(0x2060, 0x2064), ...range(0x206a, 0x206f), 0xfeff, ...range(0xfff9, 0xfffb), // invisible
  0x2028, 0x2029, // line and paragraph separators
].map((cp) => String.fromCodePoint(cp));
function range(a: number, b: number): number[] {
  return Array.from({ length: b - a + 1 }, (_, i) => a + i);
}
const hasDropped = (s: string) => DROPPED_CPS.some((c) => s.includes(c));
const ZWNJ = "\u200c";
const ZWJ = "\u200d";
/** Whether every joiner in `s` stands between two letters (or marks), or a ZWJ inside an emoji sequence. */
function joinersWellPlaced(s: string): boolean {
  const cps = [...s];
  return cps.every((c, i) => {
    if (c !== ZWNJ && c !== ZWJ) return true;
    const [b, a] = [cps[i - 1] ?? "", cps[i + 1] ?? ""];
    if (/^[\p{L}\p{M}]$/u.test(b) && /^[\p{L}\p{M}]$/u.test(a)) return true;
    return c === ZWJ && /^(\p{Extended_Pictographic}|\p{Emoji_Modifier}|\ufe0f)$/u.test(b) && /^\p{Extended_Pictographic}$/u.test(a);
  });
}

/** Persian words with a ZWNJ inside (as "می‌خواهم", "کتاب‌ها"), and emoji ZWJ sequences. */
const persianLetter = fc.constantFrom(..."ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهی");
const persianWord = fc
  .tuple(fc.array(persianLetter, { minLength: 1, maxLength: 5 }), fc.array(persianLetter, { minLength: 1, maxLength: 5 }))
  .map(([a, b]) => a.join("") + ZWNJ + b.join(""));
const pictograph = fc.constantFrom("👩", "👨", "👧", "💻", "🔥", "❤\ufe0f", "🏳\ufe0f", "🌈", "🤝", "👩🏽", "🧑🏿");
const emojiSequence = fc.array(pictograph, { minLength: 2, maxLength: 4 }).map((a) => a.join(ZWJ));
/** Everything else: any text, and the characters the rule is about, in any order. */
const nameNoise = fc
  .array(
    fc.oneof(
      { weight: 4, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 2 }) },
      { weight: 4, arbitrary: fc.constantFrom(...DROPPED_CPS, ZWNJ, ZWJ, ZWNJ + ZWJ, " ", ".", "/", "a", "क्", "ش", "👩", "\ufe0f", "=", "\u0338", "e", "\u0301") },
      { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
    ),
    { maxLength: 25 },
  )
  .map((a) => a.join(""));

describe("the name rule (src/contract/names.ts: terminal and file names)", () => {
  it("is idempotent, NFC, drops every listed character, and leaves a joiner only between letters or inside an emoji sequence", () => {
    fc.assert(
      fc.property(nameNoise, (raw) => {
        const out = cleanName(raw);
        expect(cleanName(out)).toBe(out);
        expect(out.normalize("NFC")).toBe(out);
        expect(hasDropped(out)).toBe(false);
        expect(joinersWellPlaced(out)).toBe(true);
        // nothing else is removed: the name with the dropped characters and every joiner taken out is the same
        const strip = (s: string) => [...s].filter((c) => !DROPPED_CPS.includes(c) && c !== ZWNJ && c !== ZWJ).join("").normalize("NFC");
        expect(strip(out)).toBe(strip(raw));
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps the ZWNJ of a Persian word and the ZWJs of an emoji sequence, wherever they stand among other text", () => {
    fc.assert(
      fc.property(nameNoise, fc.oneof(persianWord, emojiSequence), nameNoise, (before, word, after) => {
        const out = cleanName(`${before} ${word} ${after}`);
        expect(out).toContain(` ${word} `);
      }),
      { numRuns: 1000 },
    );
  });

  it("examples: Persian, Devanagari, Sinhala and emoji keep their joiners; a stray joiner goes", () => {
    for (const kept of ["می\u200cخواهم", "کتاب\u200cها", "क्\u200dष", "ශ්\u200dරී", "👩🏽\u200d💻", "👨\u200d👩\u200d👧", "🏳\ufe0f\u200d🌈", "❤\ufe0f\u200d🔥"]) {
      expect(cleanName(kept)).toBe(kept);
    }
    // emoji ZWJ sequences of every shape: hair and skin components, VS16 on either side, arrows, squares, hands
    for (const kept of ["👨‍🦰", "🐻‍❄️", "🏴‍☠️", "🧑‍🤝‍🧑", "👁️‍🗨️", "🧔🏻‍♂️", "👩‍❤️‍💋‍👨", "🫱🏻‍🫲🏿", "😮‍💨", "❤️‍🩹", "🐦‍⬛", "🙂‍↔️"]) {
      expect(kept).toContain(ZWJ);
      expect(cleanName(kept)).toBe(kept);
    }
    expect(cleanName("\u200dabc\u200c")).toBe("abc");
    expect(cleanName("a\u200c b\u200d.txt")).toBe("a b.txt");
    expect(cleanName("a\u200c\u200db")).toBe("ab");
    expect(cleanName("😀\u200cx")).toBe("😀x"); // ZWNJ is not part of emoji sequences
    expect(cleanName("1\u200d2")).toBe("12"); // digits are not letters
    // dropping a joiner lets NFC compose what it kept apart; a joiner that then stands beside a symbol goes too
    expect(cleanName("=\u200d\u0338")).toBe("\u2260");
    expect(cleanName("=\u200d\u0338\u200dא")).toBe("\u2260א");
  });
});

/** Names as hostile senders write them: separators, dots, drives, devices, controls, bidi, combining marks, long runs. */
const nameChar = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 1 }) },
  { weight: 3, arbitrary: fc.constantFrom("/", "\\", ".", "..", " ", ":", "C:", "con", "NUL", "manifest.json", "\u0000", "\u001f", "\u202e", "\u200f", "\ufeff", "\u0301", "e\u0301", "\u00e9", "\uff0f") },
  { weight: 2, arbitrary: fc.constantFrom(...DROPPED_CPS, "\u200c", "\u200d", "می\u200cخواهم", "👩\u200d💻", "ش", "👩") },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 3 }) },
);
const rawName = fc.oneof(
  fc.array(nameChar, { maxLength: 30 }).map((a) => a.join("")),
  fc.tuple(fc.string({ minLength: 1, maxLength: 5 }), fc.integer({ min: 200, max: 1200 })).map(([s, n]) => s.repeat(n).slice(0, 3000)),
  // long names of words that keep their joiners: cut at 255 bytes anywhere, even right after one
  fc
    .tuple(fc.constantFrom("می\u200cخواهم", "👩\u200d💻", "क्\u200dष", "a\u200cb"), fc.integer({ min: 10, max: 120 }), fc.constantFrom("", ".txt", "/x"))
    .map(([s, n, tail]) => s.repeat(n) + tail),
);

describe("safe names (src/package/names.ts)", () => {
  it("every name that comes out can be unpacked anywhere: no traversal, no control characters, within limits, NFC", () => {
    fc.assert(
      fc.property(rawName, (raw) => {
        const p = cleanPath(raw);
        if (p === null) return;
        expect(p).not.toBe("");
        expect(p.startsWith("/")).toBe(false);
        expect(p).not.toMatch(/\\|:/);
        expect(hasDropped(p)).toBe(false);
        expect(joinersWellPlaced(p)).toBe(true);
        for (const seg of p.split("/")) {
          expect(seg).not.toMatch(/^(|\.|\.\.)$/);
          expect(seg).toBe(seg.trim());
          expect(seg.endsWith(".")).toBe(false);
          expect(seg).not.toMatch(/^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³])(\..*)?$/i);
          expect(bytes(seg)).toBeLessThanOrEqual(MAX_NAME_BYTES);
        }
        expect(bytes(p)).toBeLessThanOrEqual(MAX_PATH_BYTES);
        expect(p).toBe(p.normalize("NFC"));
        // cleaning a clean name changes nothing
        expect(cleanPath(p)).toBe(p);
      }),
      { numRuns: 2000 },
    );
  });

  it("examples fast-check is unlikely to stumble on: a control character between a letter and its accent", () => {
    expect(cleanPath("e\u0001\u0301.txt")).toBe("\u00e9.txt");
    expect(cleanPath("a\u202e\u0308/b")).toBe("\u00e4/b");
  });

  it("a list of names gives as many distinct names (ignoring case), none the manifest, none also a folder; or names the one unusable", () => {
    fc.assert(
      fc.property(fc.array(rawName, { minLength: 1, maxLength: 25 }), (raws) => {
        const r = safeNames(raws);
        if (!r.ok) {
          expect(cleanPath(raws[r.index]!)).toBeNull();
          expect(raws.slice(0, r.index).every((x) => cleanPath(x) !== null)).toBe(true);
          return;
        }
        expect(r.names).toHaveLength(raws.length);
        const lower = r.names.map((n) => n.toLowerCase());
        expect(new Set(lower).size).toBe(lower.length);
        expect(lower).not.toContain(MANIFEST_NAME);
        const folders = new Set(lower.flatMap((n) => n.split("/").slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join("/"))));
        for (const n of lower) expect(folders.has(n)).toBe(false);
        for (const n of r.names) for (const seg of n.split("/")) expect(bytes(seg)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      }),
      { numRuns: 500 },
    );
  });
});

describe("part arithmetic (src/receive/parts.ts)", () => {
  const sizes = fc.record({
    partSize: fc.oneof(fc.integer({ min: 1, max: 64 }), fc.integer({ min: 5 * 2 ** 20, max: 5 * 2 ** 30 })),
    size: fc.oneof(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  });

  it("the parts add up to the file: all but the last exactly partSize, the last 1..partSize (an empty file: one empty part)", () => {
    fc.assert(
      fc.property(sizes, ({ size, partSize }) => {
        const count = partCount(size, partSize);
        expect(Number.isInteger(count) && count >= 1).toBe(true);
        expect(isMultipart(size, partSize)).toBe(count > 1);
        const last = partLength(size, partSize, count);
        expect((count - 1) * partSize + last).toBe(size);
        if (count > 1) expect(partLength(size, partSize, 1)).toBe(partSize);
        if (size > 0) {
          expect(last).toBeGreaterThanOrEqual(1);
          expect(last).toBeLessThanOrEqual(partSize);
        } else expect(last).toBe(0);
        expect(() => partLength(size, partSize, 0)).toThrow(RangeError);
        expect(() => partLength(size, partSize, count + 1)).toThrow(RangeError);
      }),
      { numRuns: 5000 },
    );
  });

  it("the part size a file gets: 16 MiB up to 192 MiB, then 64 MiB, with at least four parts; never over 100 MB or 10,000 parts", () => {
    for (const [size, want] of [
      [0, PART_SIZE],
      [PART_SIZE + 1, PART_SIZE],
      [3 * LARGE_PART_SIZE, PART_SIZE],
      [3 * LARGE_PART_SIZE + 1, LARGE_PART_SIZE],
      [MAX_PACKAGE_BYTES, LARGE_PART_SIZE],
    ]) expect(partSizeFor(size!)).toBe(want);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: MAX_PACKAGE_BYTES }), (size) => {
        const p = partSizeFor(size);
        expect(p).toBeLessThanOrEqual(100_000_000); // Cloudflare's request-body limit on Free and Pro
        expect(partCount(size, p)).toBeLessThanOrEqual(MAX_PARTS);
        if (p === LARGE_PART_SIZE) expect(partCount(size, p)).toBeGreaterThanOrEqual(4);
        else expect(size).toBeLessThanOrEqual(3 * LARGE_PART_SIZE);
      }),
      { numRuns: 2000 },
    );
  });

  it("bytes received is the sum of the parts received, each counted once, in any order", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }).chain((size) => fc.tuple(fc.constant(size), fc.integer({ min: 1, max: 40 }))).chain(([size, partSize]) =>
          fc.tuple(fc.constant(size), fc.constant(partSize), fc.shuffledSubarray(Array.from({ length: partCount(size, partSize) }, (_, i) => i + 1))),
        ),
        ([size, partSize, got]) => {
          const parts = got.map((n) => ({ size: partLength(size, partSize, n) }));
          const all = Array.from({ length: partCount(size, partSize) }, (_, i) => ({ size: partLength(size, partSize, i + 1) }));
          expect(receivedBytes(all)).toBe(size);
          expect(receivedBytes(parts)).toBe(got.reduce((s, n) => s + partLength(size, partSize, n), 0));
          expect(receivedBytes(parts)).toBeLessThanOrEqual(size);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("Range parser (src/deliver/range.ts)", () => {
  const size = fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 2 ** 40 }));

  it("never throws, and a range it grants lies within the representation", () => {
    const header = fc.oneof(
      fc.string({ maxLength: 60 }),
      fc.array(fc.oneof(fc.constantFrom("bytes", "=", "-", ",", " ", "BYTES", "\t"), fc.nat().map(String), fc.bigInt({ min: 0n, max: 10n ** 45n }).map(String)), { maxLength: 12 }).map((a) => a.join("")),
    );
    fc.assert(
      fc.property(fc.option(header, { nil: null }), size, (h, n) => {
        const r = parseRange(h, n);
        if (h === null) expect(r.kind).toBe("none");
        if (r.kind === "range") {
          expect(Number.isSafeInteger(r.start) && Number.isSafeInteger(r.end)).toBe(true);
          expect(0 <= r.start && r.start <= r.end && r.end < n).toBe(true);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("bytes=a-b, a-, -n mean what RFC 9110 says", () => {
    fc.assert(
      fc.property(size.filter((n) => n > 0), fc.nat(), fc.nat(), (n, x, y) => {
        const a = x % (n + 5);
        const b = a + (y % (n + 5));
        const bounded = parseRange(`bytes=${a}-${b}`, n);
        if (a < n) expect(bounded).toEqual({ kind: "range", start: a, end: Math.min(b, n - 1) });
        else expect(bounded.kind).toBe("unsatisfiable");
        const open = parseRange(`bytes=${a}-`, n);
        expect(open).toEqual(a < n ? { kind: "range", start: a, end: n - 1 } : { kind: "unsatisfiable" });
        const suffix = parseRange(`bytes=-${y}`, n);
        expect(suffix).toEqual(y === 0 ? { kind: "unsatisfiable" } : { kind: "range", start: Math.max(0, n - y), end: n - 1 });
        // a range whose last position comes before its first is malformed
        if (b > a) expect(parseRange(`bytes=${b}-${a}`, n).kind).toBe("invalid");
        // spacing and case do not matter
        expect(parseRange(` BYTES = ${a}-${b}`, n)).toEqual(bounded);
      }),
      { numRuns: 5000 },
    );
  });

  it("several ranges: the whole representation (none), unless none of them is satisfiable", () => {
    fc.assert(
      fc.property(size.filter((n) => n > 0), fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 2, maxLength: 5 }), (n, pairs) => {
        const specs = pairs.map(([a, len]) => [a % (2 * n), (a % (2 * n)) + (len % n)] as const);
        const r = parseRange(`bytes=${specs.map(([a, b]) => `${a}-${b}`).join(", ")}`, n);
        expect(r.kind).toBe(specs.some(([a]) => a < n) ? "none" : "unsatisfiable");
      }),
      { numRuns: 2000 },
    );
  });
});
