/**
 * The one gate for text that someone else wrote (messages, file names, terminal names, the
 * server's error messages and details) on its way to a terminal. A terminal obeys control
 * characters: `ESC ] 52 ; c ; … BEL` writes the clipboard, `ESC ] 0 ; …` sets the window
 * title, `ESC [1A ESC [2K` erases the line above (to print a fake one in its place), a bare
 * `\r` returns to the line's start, and bidi controls reorder what is shown (`evil\u202Efdp.exe`
 * reads as `evilexe.pdf`). Each of them is written out as visible, inert text instead:
 *
 * - C0 controls, DEL and C1 controls (U+0080–U+009F) as `\xNN` (ESC is `\x1b`, BEL `\x07`);
 * - bidi controls (U+202A–U+202E, U+2066–U+2069, U+061C, U+200E, U+200F), the line and paragraph
 *   separators (U+2028, U+2029) and the invisible U+200B, U+2060, U+FEFF as `\uNNNN`;
 * - a tab stays a tab and a newline (or CR LF) a newline in `multiline` text (a message, whose
 *   lines the caller indents); in a one-line field (a name) they are `\t` and `\n`, so a name
 *   can never start a line of its own; a lone `\r` is `\r` in both.
 *
 * Everything else is kept as it is, ordinary text in any script included: U+200C and U+200D
 * (which Persian, Devanagari and emoji sequences need) are not controls and stay. A backslash
 * is not escaped: `\x1b` in the output may have been typed as such by the sender, which can
 * fool no terminal. `--json` output does not come here: JSON escapes C0 controls itself, and
 * `jsonSafe` below writes the rest as `\uNNNN` escapes, which parse to the very same string.
 */

// \p{Cc}: U+0000–U+001F, U+007F–U+009F
const UNSAFE = /[\p{Cc}\u061C\u200B\u200E\u200F\u2028\u2029\u202A-\u202E\u2060\u2066-\u2069\uFEFF]/gu;

const hex = (c: string, width: number) => c.codePointAt(0)!.toString(16).padStart(width, "0");

function visible(c: string): string {
  if (c === "\n") return "\\n";
  if (c === "\t") return "\\t";
  if (c === "\r") return "\\r";
  const cp = c.codePointAt(0)!;
  return cp <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`;
}

/** `text` made safe to show on a terminal (see above); `multiline` keeps its newlines and tabs. */
export function shown(text: string, opts: { multiline?: boolean } = {}): string {
  let s = typeof text === "string" ? text : String(text);
  if (opts.multiline) s = s.replace(/\r\n/g, "\n"); // a message typed on Windows is not a row of `\r`s
  return s.replace(UNSAFE, (c) => (opts.multiline && (c === "\n" || c === "\t") ? c : visible(c)));
}

// what JSON.stringify leaves raw that a terminal would still act on (it escapes U+0000–U+001F itself)
const JSON_UNSAFE = /[\u007F-\u009F\u061C\u200B\u200E\u200F\u2028\u2029\u202A-\u202E\u2060\u2066-\u2069\uFEFF]/g;

/**
 * A JSON text with the characters above written as `\uNNNN` escapes. They can only occur inside
 * string literals, where the escape means the same character: `JSON.parse` gives back exactly
 * the same value, and a person who `cat`s the output sees no reordered or hidden text.
 */
export function jsonSafe(json: string): string {
  return json.replace(JSON_UNSAFE, (c) => `\\u${hex(c, 4)}`);
}
