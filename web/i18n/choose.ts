import { AVAILABLE, PSEUDO_LANGUAGE, language, type Language } from "./languages";
import { negotiateLanguage } from "./negotiate";
import { loadLanguage } from "./runtime";

/**
 * The page's side: which language to show (?lang=, then the picker's choice kept in this
 * browser, then navigator.languages), `<html lang dir>`, and keeping the choice where the
 * service worker reads it. The picker's choice lives in localStorage (read synchronously at
 * start) and is mirrored into IndexedDB (prefs.ts) with the language actually shown.
 */
const OVERRIDE_KEY = "pushdrop.lang";

/** The picker's choice kept in this browser, if any (language.ts shows it). */
export function storedOverride(): string | null {
  try {
    return localStorage.getItem(OVERRIDE_KEY);
  } catch {
    return null; // storage refused (private modes): the browser's languages decide
  }
}

/** The visitor's language, from the page's URL, this browser's stored choice and its languages. */
export function chooseLanguage(loc: Pick<Location, "search"> = location, nav: Pick<Navigator, "languages" | "language"> = navigator): Language {
  const forced = new URLSearchParams(loc.search).get("lang");
  const preferred = nav.languages?.length ? nav.languages : nav.language ? [nav.language] : [];
  return negotiateLanguage({ forced, stored: storedOverride(), preferred });
}

/** `<html lang="ar" dir="rtl">`. */
export function applyDocumentLanguage(lang: Language, doc: Document = document): void {
  doc.documentElement.lang = lang.tag;
  doc.documentElement.dir = lang.dir;
}

/**
 * Start-up: choose, fetch the catalog, set `<html lang dir>`, tell the service worker. Resolves
 * with the language in use (English when the chosen catalog could not be fetched).
 */
export async function startI18n(): Promise<Language> {
  const lang = await loadLanguage(chooseLanguage());
  applyDocumentLanguage(lang);
  // (prefs.ts, IndexedDB: a lazy chunk, shared with the keys' store; the page never reads it)
  void import("./prefs").then((m) => m.writePref("lang", lang.tag));
  return lang;
}

/** The picker: a tag keeps that language on this device; null goes back to the browser's languages. */
export async function setLanguageOverride(tag: string | null): Promise<void> {
  const known = tag !== null && (tag === PSEUDO_LANGUAGE || AVAILABLE.includes(tag));
  const lang = known ? language(tag) : null;
  try {
    if (lang) localStorage.setItem(OVERRIDE_KEY, lang.tag);
    else localStorage.removeItem(OVERRIDE_KEY);
  } catch {
    /* storage refused: the choice lasts for this visit */
  }
  await (await import("./prefs")).writePref("override", lang ? lang.tag : null);
}
