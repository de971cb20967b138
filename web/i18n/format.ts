import { normalizeTerminalId } from "../../src/contract/ids";

/**
 * Numbers, sizes, times, dates and lists in the visitor's language, by `Intl` (no tables of our
 * own), and the one exception: a terminal id, always ASCII digits grouped "578 418 129" (an id is
 * typed, read aloud and checked; `Intl` would write `٥٧٨٬٤١٨٬١٢٩` for ar-EG). Pure: the locale
 * is a parameter, so tests run them in Node and the service worker can use them too.
 */

const SIZE_UNITS = ["byte", "kilobyte", "megabyte", "gigabyte", "terabyte", "petabyte"] as const;

/** 300000 → "300 kB" (en), "300 kB" (de), "٣٠٠ ك.بايت" (ar-EG): decimal units, as the rest of pushdrop counts. */
export function formatSize(bytes: number, locale: string): string {
  let i = 0;
  let v = bytes;
  while (Math.abs(v) >= 1000 && i < SIZE_UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return new Intl.NumberFormat(locale, {
    style: "unit",
    unit: SIZE_UNITS[i],
    unitDisplay: "short",
    maximumFractionDigits: i === 0 || Math.abs(v) >= 100 ? 0 : 1,
  }).format(v);
}

/** A plain number in the visitor's digits and grouping (counts, percentages are separate). */
export function formatNumber(n: number, locale: string, options?: Intl.NumberFormatOptions): string {
  return new Intl.NumberFormat(locale, options).format(n);
}

/**
 * A moment relative to now: "in 23 hours", "5 minutes ago", "now", in the visitor's language.
 * Seconds under 45 read as now (numeric: "auto" gives "now"/"yesterday"/"tomorrow" where the
 * language has words for them).
 */
export function formatRelative(when: Date | string | number, locale: string, now = Date.now()): string {
  const t = when instanceof Date ? when.getTime() : typeof when === "string" ? Date.parse(when) : when;
  const s = (t - now) / 1000;
  const a = Math.abs(s);
  const rtf = new Intl.RelativeTimeFormat(locale, { numeric: "auto" });
  if (a < 45) return rtf.format(0, "second");
  if (a < 45 * 60) return rtf.format(Math.round(s / 60), "minute");
  if (a < 22 * 3600) return rtf.format(Math.round(s / 3600), "hour");
  if (a < 26 * 86400) return rtf.format(Math.round(s / 86400), "day");
  if (a < 320 * 86400) return rtf.format(Math.round(s / (30 * 86400)), "month");
  return rtf.format(Math.round(s / (365 * 86400)), "year");
}

/** A date and time the visitor's way ("6 Dec 2026, 19:45"). */
export function formatDate(when: Date | string | number, locale: string, options: Intl.DateTimeFormatOptions = { dateStyle: "medium", timeStyle: "short" }): string {
  return new Intl.DateTimeFormat(locale, options).format(new Date(when));
}

/** ["a.jpg", "b.pdf", "c.txt"] → "a.jpg, b.pdf and c.txt" / "a.jpg, b.pdf y c.txt" / "a.jpg、b.pdf、c.txt". */
export function formatList(items: readonly string[], locale: string, type: "conjunction" | "disjunction" | "unit" = "conjunction"): string {
  return new Intl.ListFormat(locale, { style: "long", type }).format(items);
}

// ---- terminal ids ------------------------------------------------------------------------------

/** The digit systems an id may be typed in: Arabic-Indic, Persian (Extended Arabic-Indic), Devanagari, full-width. */
const DIGIT_ZEROS = [0x0660, 0x06f0, 0x0966, 0xff10] as const;

/**
 * Turns the digits of other scripts into ASCII ("٥٧٨ ٤١٨ ١٢٩" → "578 418 129"); everything else
 * is left as it is (the id check that follows rejects what is not an id). For the id field:
 * a phone's keyboard in Arabic, Persian or Hindi types its own digits.
 */
export function asciiDigits(input: string): string {
  let out = "";
  for (const ch of input) {
    const c = ch.codePointAt(0)!;
    const zero = DIGIT_ZEROS.find((z) => c >= z && c <= z + 9);
    out += zero === undefined ? ch : String.fromCharCode(48 + c - zero);
  }
  return out;
}

/**
 * An id as people read it, whatever the language: "578 418 129", ASCII digits, grouped by three
 * with plain spaces. Put it inside a bidi isolate (`<bdi>` or `dir="ltr"`) in right-to-left text.
 * Anything else than 9 digits (after asciiDigits and dropping separators) comes back unchanged.
 */
export function formatTerminalIdAscii(id: string): string {
  const digits = asciiDigits(id).replace(/[\s.\-\u00a0\u202f\u066c]/g, "");
  if (!/^[0-9]{9}$/.test(digits)) return id;
  return `${digits.slice(0, 3)} ${digits.slice(3, 6)} ${digits.slice(6)}`;
}

/**
 * What the id field holds, as a canonical id ("578418129") or null: digits of any of the
 * scripts above, spaces (also no-break ones), dots, dashes and the Arabic thousands separator
 * (٬) dropped, then the contract's own check (9 digits, Damm check digit).
 */
export function parseTerminalIdInput(input: string): string | null {
  return normalizeTerminalId(asciiDigits(input).replace(/[\u066c\u060c]/g, ""));
}

// ---- bidi isolation for plain text (notifications, titles, aria-labels, <option>s) -------------
// In a right-to-left sentence "578 418 129" would show as "129 418 578" (three numbers with
// neutral spaces between them are laid out right to left), and a Latin file name can swallow the
// punctuation around it. In the DOM, put such values in <bdi> (or dir="ltr"); in plain text,
// wrap them with these Unicode isolates before passing them to t().

/** An id, a number, a link: always left to right, isolated from the text around (LRI … PDI). */
export const ltr = (s: string): string => `\u2066${s}\u2069`;

/** A name or a file name whose direction is its own (FSI … PDI: the first strong letter decides). */
export const isolate = (s: string): string => `\u2068${s}\u2069`;

/** The id for plain text in any language: ASCII, grouped, isolated left to right. */
export const terminalIdText = (id: string): string => ltr(formatTerminalIdAscii(id));
