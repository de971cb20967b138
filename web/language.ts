import { $, h } from "./dom";
import { setLanguageOverride, storedOverride } from "./i18n/choose";
import { AVAILABLE, languageName } from "./i18n/languages";
import { currentLanguage } from "./i18n/runtime";

/**
 * The picker on This device: every language this build has a catalog for, each named in itself
 * ("Deutsch", "العربية"), and "The browser's language" to follow navigator.languages again. A
 * choice is kept in this browser (and for the service worker) and the page reloads in it; a
 * `?lang=` in the address is dropped so the choice shows.
 */
export function wireLanguagePicker(): void {
  const select = $<HTMLSelectElement>("lang");
  const stored = storedOverride();
  const forced = new URLSearchParams(location.search).get("lang");
  const tags = [...AVAILABLE];
  if ((forced ?? stored) === "en-XA") tags.push("en-XA");
  for (const tag of tags) select.append(h("option", { value: tag, lang: tag, dir: "auto" }, languageName(tag)));
  select.value = forced || stored ? currentLanguage().tag : "";
  select.addEventListener("change", () => {
    void setLanguageOverride(select.value || null).then(() => {
      // (a new address differing only by its #screen would not reload: drop ?lang, then reload)
      const url = new URL(location.href);
      url.searchParams.delete("lang");
      history.replaceState(null, "", url.href);
      location.reload();
    });
  });
}
