import { AVAILABLE, SOURCE_LANGUAGE, language, type Language } from "./languages";
import { negotiateLanguage } from "./negotiate";
import { readPref } from "./prefs";
import { catalogUrl, useCatalog, type Catalog } from "./runtime";

/**
 * The service worker's side (it cannot import() a chunk or read localStorage): the language the
 * page last showed, read from IndexedDB (else the worker's navigator.languages), its compiled
 * catalog from the Cache API, fetched and cached when missing, refreshed in the background when
 * online. Then `t()` from runtime.ts speaks it in the push and notificationclick handlers.
 */
export const I18N_CACHE = "pushdrop-i18n-v1";

/** The worker's language: the page's last, else the picker's choice, else the worker's own languages. */
export async function workerLanguage(nav: { languages?: readonly string[] } = self.navigator, available: readonly string[] = AVAILABLE): Promise<Language> {
  const shown = await readPref("lang");
  const stored = await readPref("override");
  return negotiateLanguage({ stored: shown ?? stored, preferred: nav.languages ?? [], available });
}

async function cachedCatalog(tag: string): Promise<Catalog | null> {
  const url = catalogUrl(tag);
  try {
    const cache = await caches.open(I18N_CACHE);
    const hit = await cache.match(url);
    const refresh = fetch(url).then(async (res) => {
      if (res.ok) await cache.put(url, res.clone());
      return res;
    });
    if (hit) {
      refresh.catch(() => undefined); // offline: the cached words serve
      return (await hit.json()) as Catalog;
    }
    const res = await refresh;
    return res.ok ? ((await res.json()) as Catalog) : null;
  } catch {
    return null;
  }
}

/**
 * Makes the worker's language current for `t()`; English when its catalog cannot be had; keys
 * (never blanks) when neither can. Resolves with the language in use.
 */
export async function loadWorkerCatalog(nav?: { languages?: readonly string[] }, available?: readonly string[]): Promise<Language> {
  const lang = await workerLanguage(nav, available);
  const messages = await cachedCatalog(lang.tag);
  if (messages) {
    useCatalog(lang, messages);
    return lang;
  }
  const en = language(SOURCE_LANGUAGE);
  useCatalog(en, (await cachedCatalog(en.tag)) ?? {});
  return en;
}

/** For the worker's install/activate: puts a language's catalog in the cache ahead of any push. */
export async function precacheCatalog(tag: string): Promise<void> {
  await cachedCatalog(tag);
}
