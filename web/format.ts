import { h } from "./dom";
import { formatDate, formatList, formatRelative, formatSize, formatTerminalIdAscii, isolate, terminalIdText } from "./i18n/format";
import { currentLanguage } from "./i18n/runtime";

/**
 * The page's numbers, sizes, times and ids in the visitor's language (web/i18n/format.ts by
 * `Intl`, with the language startI18n() chose). Ids are always ASCII digits grouped "578 418 129",
 * isolated left to right: a `<bdi dir="ltr">` in the DOM, Unicode isolates in plain text.
 */
const locale = () => currentLanguage().tag;

/** "5 minutes ago", "vor 5 Minuten", "منذ ٥ دقائق". */
export const ago = (iso: string, now = Date.now()): string => formatRelative(iso, locale(), now);

/** "in 23 hours", "dans 23 heures". */
export const until = (iso: string, now = Date.now()): string => formatRelative(iso, locale(), now);

/** "52.4 MB" in the visitor's digits and unit words. */
export const size = (bytes: number): string => formatSize(bytes, locale());

/** A date and time the visitor's way (a time element's title). */
export const dateTime = (iso: string): string => formatDate(iso, locale());

/**
 * A name or a file name inside a sentence of plain text (aria-labels, status lines, toasts):
 * isolated (FSI … PDI) where its direction could disturb the sentence: on a right-to-left page,
 * or a right-to-left name on any page. A Latin name in a left-to-right sentence needs nothing.
 */
const RTL_CHAR = /[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]/;
export const bidi = (s: string): string => (currentLanguage().dir === "rtl" || RTL_CHAR.test(s) ? isolate(s) : s);

/** Names joined the language's way: "a, b and c", "a、b、c"; each name isolated where needed. */
export const names = (items: readonly string[]): string => formatList(items.map(bidi), locale());

/** An id for plain text (titles, aria-labels, sentences): ASCII, grouped, isolated left to right on a right-to-left page. */
export const idText = (id: string): string => (currentLanguage().dir === "rtl" ? terminalIdText(id) : formatTerminalIdAscii(id));

/** An id in the page: `<bdi dir="ltr" class="…">578 418 129</bdi>`. */
export const idEl = (id: string, cls = "muted nowrap"): HTMLElement => h("bdi", { dir: "ltr", class: cls }, formatTerminalIdAscii(id));

/** A value that reads left to right whatever the page's direction (sizes with ASCII, links, names). */
export const ltrEl = (text: string, cls?: string): HTMLElement => h("bdi", { dir: "ltr", class: cls ?? null }, text);
