/**
 * The one rule for every name a person reads: terminal names and file names (the server's
 * safe names, src/package/names.ts, build on it). A name must look like what it is, so this
 * drops what is invisible or reorders what is shown around it, and keeps what scripts need:
 *
 *  - dropped: control characters (U+0000–001F, U+007F–009F); bidi controls (U+061C, U+200E,
 *    U+200F, U+202A–202E, U+2066–2069); invisible characters (U+00AD soft hyphen, U+200B,
 *    U+2060–2064, U+206A–206F, U+FEFF, U+FFF9–FFFB); line and paragraph separators (U+2028,
 *    U+2029);
 *  - U+200C (ZWNJ) and U+200D (ZWJ) stay only where a script or an emoji needs them: between
 *    two letters (a letter or a combining mark on each side: Persian "می‌خواهم", Devanagari
 *    "क्‍ष"), and a ZWJ inside an emoji sequence (a pictograph, or one followed by U+FE0F or a
 *    skin-tone modifier, before another pictograph: "👩🏽‍💻"). Any other one (leading, trailing,
 *    next to a space, a dot or another joiner) is dropped;
 *  - the result is NFC.
 *
 * `cleanName(cleanName(s)) === cleanName(s)` for every string, and the result never holds a
 * dropped character: a name that only looks like another ("manifest.json\u200b") becomes it.
 * It does not trim or shorten: callers do what their kind of name needs.
 */

const DROPPED =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;
const ZWNJ = "\u200c";
const ZWJ = "\u200d";
const JOINERS = /[\u200c\u200d]/;
const LETTER = /^[\p{L}\p{M}]$/u;
const EMOJI_BEFORE = /^[\p{Extended_Pictographic}\p{Emoji_Modifier}\ufe0f]$/u;
const EMOJI_AFTER = /^\p{Extended_Pictographic}$/u;

/** Whether a joiner between these two characters is part of a word or an emoji sequence. */
function joins(joiner: string, before: string | undefined, after: string | undefined): boolean {
  if (before === undefined || after === undefined) return false;
  if (LETTER.test(before) && LETTER.test(after)) return true;
  return joiner === ZWJ && EMOJI_BEFORE.test(before) && EMOJI_AFTER.test(after);
}

function keepJoiners(s: string): string {
  if (!JOINERS.test(s)) return s;
  const cps = Array.from(s);
  let out = "";
  for (let i = 0; i < cps.length; i++) {
    const c = cps[i]!;
    if ((c !== ZWNJ && c !== ZWJ) || joins(c, cps[i - 1], cps[i + 1])) out += c;
  }
  return out;
}

/** A name as people should see it (the rule above). */
export function cleanName(raw: string): string {
  // dropped characters go before NFC: one between a letter and its accent would keep them apart
  let s = raw.replace(DROPPED, "").normalize("NFC");
  // dropping a joiner can let NFC compose its neighbours ("=" ZWJ U+0338 → "≠"), which can
  // change whether another joiner is between letters: repeat until nothing changes (each
  // round drops at least one joiner, or is the last)
  for (;;) {
    const next = keepJoiners(s).normalize("NFC");
    if (next === s) return s;
    s = next;
  }
}
