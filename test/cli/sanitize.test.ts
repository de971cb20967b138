import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jsonSafe, shown } from "../../cli/sanitize";

/** cli/sanitize.ts: the one gate for what another party wrote, on its way to a terminal. */

// everything a terminal acts on or that reorders/hides text: C0, DEL, C1, bidi, separators, invisibles
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/u;
const UNSAFE_BUT_NEWLINE_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/u;

/** strings of any code points, and strings dense with the characters that matter here */
const text = fc.oneof(
  fc.string({ unit: "binary" }),
  fc.string({ unit: fc.constantFrom("\u001b", "\u0007", "\n", "\r", "\t", "\u202e", "\u2066", "\u009b", "\u200d", "\u200c", "\\", "a", "é", "😀") }),
);

const ESC = "\u001b";
const BEL = "\u0007";

describe("shown", () => {
  it("writes the issue's sequences out as inert text", () => {
    expect(shown(`${ESC}]52;c;aGVsbG8=${BEL}`)).toBe("\\x1b]52;c;aGVsbG8=\\x07"); // clipboard write
    expect(shown(`${ESC}]0;pwned${BEL}`)).toBe("\\x1b]0;pwned\\x07"); // window title
    expect(shown(`${ESC}[1A${ESC}[2Kverified sender`)).toBe("\\x1b[1A\\x1b[2Kverified sender");
    expect(shown("evil\u202Efdp.exe")).toBe("evil\\u202efdp.exe");
    expect(shown("a\u009b31mred")).toBe("a\\x9b31mred"); // C1 CSI
    expect(shown("x\u007fy")).toBe("x\\x7fy");
    expect(shown("fake\roverwrite")).toBe("fake\\roverwrite");
    expect(shown("manifest.json\u200b")).toBe("manifest.json\\u200b");
    for (const c of ["\u2066", "\u2067", "\u2068", "\u2069", "\u061c", "\u200e", "\u200f", "\u2028", "\u2029", "\u2060", "\ufeff", "\u202a", "\u202d"]) {
      expect(shown(`a${c}b`)).toBe(`a\\u${c.codePointAt(0)!.toString(16).padStart(4, "0")}b`);
    }
  });

  it("keeps newlines and tabs in a message (CR LF read as a newline), and writes them out in a name", () => {
    expect(shown("line 1\r\nline 2\n\tindented", { multiline: true })).toBe("line 1\nline 2\n\tindented");
    expect(shown("a\nb\tc")).toBe("a\\nb\\tc");
    expect(shown("lone\rcr", { multiline: true })).toBe("lone\\rcr");
  });

  it("leaves ordinary text alone: any script, emoji sequences, joiners, backslashes", () => {
    for (const s of ["grüße", "写真 😀", "👩‍👩‍👧", "می‌خواهم", "क्‍ष", "C:\\path\\x1b", "שלום עולם", "مرحبا"]) expect(shown(s)).toBe(s);
  });

  it("(property) never lets an unsafe character through, and changes nothing else", () => {
    fc.assert(
      fc.property(text, fc.boolean(), (s, multiline) => {
        const out = shown(s, { multiline });
        expect((multiline ? UNSAFE_BUT_NEWLINE_TAB : UNSAFE).test(out)).toBe(false);
        // safe input is returned as it is (a multiline one modulo CR LF)
        if (!UNSAFE.test(s)) expect(out).toBe(s);
        // idempotent: what is shown once is shown the same again
        expect(shown(out, { multiline })).toBe(out);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("jsonSafe", () => {
  it("(property) parses to exactly the same value, with no C1, bidi or separator character left raw", () => {
    fc.assert(
      fc.property(fc.jsonValue(), text, (v, s) => {
        for (const doc of [v, { s, nested: [s, { s }] }]) {
          const text = jsonSafe(JSON.stringify(doc, null, 2));
          expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(doc)));
          expect(UNSAFE_BUT_NEWLINE_TAB.test(text.replace(/\n/g, ""))).toBe(false);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
