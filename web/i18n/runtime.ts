import { setupI18n, type I18n, type Messages } from "@lingui/core";
import { SOURCE_LANGUAGE, language, type Language } from "./languages";

/**
 * The message runtime: `t("received.download")`, `t("send.files", { count: 3 })`. Messages are ICU
 * MessageFormat strings in web/i18n/<tag>.json, compiled by the build (scripts/i18n.mjs) into
 * Lingui's JSON form and served as /i18n/<tag>.json; @lingui/core (about 2.4 KB gzipped) only
 * interpolates them, with plurals, select and numbers by `Intl`. A catalog the build emits holds
 * every key (a string the language lacks is English's); here, a key missing all the same gives
 * the fallback catalog's words, and without one the key itself: never a blank.
 */
export type Catalog = Messages;
export type Values = Record<string, unknown>;

interface Active {
  lang: Language;
  i18n: I18n;
  messages: Catalog;
  fallback: { i18n: I18n; messages: Catalog } | null;
}

let active: Active | null = null;

/** Makes a catalog current (the page after fetching it, a test, the service worker). */
export function useCatalog(lang: Language, messages: Catalog, fallback?: Catalog): void {
  const make = (locale: string, m: Catalog) => setupI18n({ locale, messages: { [locale]: m } });
  active = {
    lang,
    i18n: make(lang.tag, messages),
    messages,
    // English words in the visitor's locale: its plural rules pick "other" where English has no arm
    fallback: fallback ? { i18n: make(lang.tag, fallback), messages: fallback } : null,
  };
}

/** The words for a key in the current language. */
export function t(key: string, values?: Values): string {
  if (!active) return key;
  const has = (m: Catalog) => Object.prototype.hasOwnProperty.call(m, key) && m[key] !== "";
  if (has(active.messages)) return active.i18n._(key, values);
  if (active.fallback && has(active.fallback.messages)) return active.fallback.i18n._(key, values);
  return key;
}

/** The current language (English until a catalog is in use). */
export function currentLanguage(): Language {
  return active?.lang ?? language(SOURCE_LANGUAGE);
}

/** Where the build puts a language's compiled catalog. */
export const catalogUrl = (tag: string) => `/i18n/${tag}.json`;

/**
 * Fetches and uses a language's catalog; when that fails (offline and not cached), English's;
 * when that fails too, keys stay keys until the next visit. Resolves with the language in use.
 */
export async function loadLanguage(lang: Language, fetchFn: typeof fetch = fetch): Promise<Language> {
  const get = async (tag: string): Promise<Catalog> => {
    const res = await fetchFn(catalogUrl(tag));
    if (!res.ok) throw new Error(`catalog ${tag}: HTTP ${res.status}`);
    return (await res.json()) as Catalog;
  };
  try {
    useCatalog(lang, await get(lang.tag));
    return lang;
  } catch {
    const en = language(SOURCE_LANGUAGE);
    if (lang.tag !== en.tag) {
      try {
        useCatalog(en, await get(en.tag));
        return en;
      } catch {
        /* below */
      }
    }
    useCatalog(lang, {});
    return lang;
  }
}
