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

/** Every code point sanitize.ts writes out: C0, DEL, C1, the bidi controls, separators and invisibles. */
const CONTROLS = [
  ...Array.from({ length: 0x20 }, (_, i) => i),
  ...Array.from({ length: 0x21 }, (_, i) => 0x7f + i),
  0x061c, 0x200b, 0x200e, 0x200f, 0x2028, 0x2029, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2060, 0x2066, 0x2067, 0x2068, 0x2069, 0xfeff,
].map((cp) => String.fromCodePoint(cp));
const UNSAFE_ALL = new RegExp(UNSAFE.source, "gu");

/**
 * Text as pieces: printable runs (any code point, any script, backslashes included, with every
 * control taken out) and single controls between them, so that what must stay and what must go
 * are both known for each piece.
 */
const piece = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }).map((s) => ({ text: s.replace(UNSAFE_ALL, "") })), weight: 3 },
  { arbitrary: fc.string({ unit: fc.constantFrom("\\", "x", "1b", "u", "é", "😀", "\u200d", "\u200c", "写"), maxLength: 6 }).map((text) => ({ text })), weight: 1 },
  { arbitrary: fc.constantFrom(...CONTROLS).map((control) => ({ control })), weight: 2 },
);
type Piece = { text: string } | { control: string };

/** the one way a control may be written out: \xNN (up to U+00FF), \uNNNN, or \n \t \r */
const ESCAPE = /\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|(n)|(t)|(r))/y;
function unescape(out: string, at: number): { c: string; end: number } | null {
  ESCAPE.lastIndex = at;
  const m = ESCAPE.exec(out);
  if (!m) return null;
  const c = m[1] ? String.fromCodePoint(parseInt(m[1], 16)) : m[2] ? String.fromCodePoint(parseInt(m[2], 16)) : m[3] ? "\n" : m[4] ? "\t" : "\r";
  if (m[2] && parseInt(m[2], 16) <= 0xff) return null; // (\u00NN is not the form for these)
  return { c, end: ESCAPE.lastIndex };
}

describe("shown, piece by piece", () => {
  it("(property) for any text: no control (ESC included) survives but \\n and \\t in a message; each is written out as its own escape in its place; printable text around it is unchanged", () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 20 }), fc.boolean(), (pieces: Piece[], multiline) => {
        const input = pieces.map((p) => ("text" in p ? p.text : p.control)).join("");
        const out = shown(input, { multiline });
        expect(out.includes(ESC)).toBe(false);
        expect((multiline ? UNSAFE_BUT_NEWLINE_TAB : UNSAFE).test(out)).toBe(false);
        // walk the output along the pieces: each printable run is there as it was, each control is
        // there as the escape of that very control (or, in a message, \n and \t as themselves, and
        // CR LF as one \n)
        let at = 0;
        for (let k = 0; k < pieces.length; k++) {
          const p = pieces[k]!;
          if ("text" in p) {
            expect(out.startsWith(p.text, at), `${JSON.stringify(p.text)} at ${at} of ${JSON.stringify(out)}`).toBe(true);
            at += p.text.length;
            continue;
          }
          const next = pieces.slice(k + 1).find((q) => !("text" in q) || q.text !== "");
          if (multiline && p.control === "\r" && next && "control" in next && next.control === "\n") {
            // CR LF: one newline (the LF piece follows; the empty runs between are nothing)
            continue;
          }
          if (multiline && (p.control === "\n" || p.control === "\t")) {
            expect(out[at]).toBe(p.control);
            at += 1;
            continue;
          }
          const e = unescape(out, at);
          expect(e, `an escape for U+${p.control.codePointAt(0)!.toString(16)} at ${at} of ${JSON.stringify(out)}`).not.toBeNull();
          expect(e!.c).toBe(p.control);
          at = e!.end;
        }
        expect(at).toBe(out.length);
      }),
      { numRuns: 3000 },
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
