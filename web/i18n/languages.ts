/**
 * The languages the web app has a catalog for. Adding a language is adding one file,
 * web/i18n/<tag>.json: the build (scripts/build-web.mjs with scripts/i18n.mjs) compiles every
 * catalog it finds and passes their tags to the bundles as __PUSHDROP_LANGUAGES__; a language's
 * name and writing direction come from `Intl` (its script, by CLDR's likely subtags).
 * `en-XA` is the pseudo-locale, generated from English by the build: never matched from the
 * browser's languages, only by ?lang=en-XA or the picker's stored choice.
 */
declare const __PUSHDROP_LANGUAGES__: readonly string[] | undefined;

export interface Language {
  tag: string;
  dir: "ltr" | "rtl";
}

export const SOURCE_LANGUAGE = "en";
export const PSEUDO_LANGUAGE = "en-XA";

/** The catalogs of this build (the pseudo-locale not among them); English alone where no build defined them. */
export const AVAILABLE: readonly string[] = typeof __PUSHDROP_LANGUAGES__ !== "undefined" ? __PUSHDROP_LANGUAGES__ : [SOURCE_LANGUAGE];

const RTL_SCRIPTS = new Set(["Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr"]);

/** "ar" → rtl, "fa-IR" → rtl, "de" → ltr. */
export function directionOf(tag: string): "ltr" | "rtl" {
  try {
    const script = new Intl.Locale(tag).maximize().script;
    return script && RTL_SCRIPTS.has(script) ? "rtl" : "ltr";
  } catch {
    return "ltr";
  }
}

/** A tag as a Language (the catalog's own spelling of the tag). */
export function language(tag: string): Language {
  return { tag, dir: directionOf(tag) };
}

/** Names Intl writes less well than speakers do. */
const NAMES: Record<string, string> = { "zh-CN": "简体中文", id: "Bahasa Indonesia", [PSEUDO_LANGUAGE]: "[Ƥšéûðô]" };

/** A language's name in itself, for the picker: "Deutsch", "العربية", "português (Brasil)". */
export function languageName(tag: string): string {
  if (NAMES[tag]) return NAMES[tag];
  try {
    return new Intl.DisplayNames([tag], { type: "language", languageDisplay: "dialect" }).of(tag) ?? tag;
  } catch {
    return tag;
  }
}
