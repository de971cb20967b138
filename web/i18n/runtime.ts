import { interpolate, type CompiledMessage } from "./interpolate";
import { SOURCE_LANGUAGE, language, type Language } from "./languages";

/**
 * The message runtime: `t("received.download")`, `t("send.files", { count: 3 })`. Messages are ICU
 * MessageFormat strings in web/i18n/<tag>.json, compiled by the build (scripts/i18n.mjs, with
 * Lingui's compiler) into JSON and served as /i18n/<tag>.json; interpolate.ts renders them, with
 * plurals, select and numbers by `Intl`. A catalog the build emits holds
 * every key (a string the language lacks is English's); here, a key missing all the same gives
 * the fallback catalog's words, and without one the key itself: never a blank. The page calls
 * t() once startI18n() (choose.ts) has resolved; before any catalog is in use it gives keys.
 */
export type Catalog = Record<string, CompiledMessage>;
export type Values = Record<string, unknown>;

interface Active {
  lang: Language;
  messages: Catalog;
  fallback: Catalog | null;
}

let active: Active | null = null;

/** Makes a catalog current (the page after fetching it, a test, the service worker). */
export function useCatalog(lang: Language, messages: Catalog, fallback?: Catalog): void {
  // English words are rendered in the visitor's locale too: its plural rules pick "other" where English has no case
  active = { lang, messages, fallback: fallback ?? null };
}

/** The words for a key in the current language. */
export function t(key: string, values?: Values): string {
  if (!active) return key;
  const has = (m: Catalog) => Object.prototype.hasOwnProperty.call(m, key) && m[key] !== "" && m[key] !== undefined;
  if (has(active.messages)) return interpolate(active.messages[key]!, active.lang.tag, values);
  if (active.fallback && has(active.fallback)) return interpolate(active.fallback[key]!, active.lang.tag, values);
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
