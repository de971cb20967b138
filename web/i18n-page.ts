import { formatNumber } from "./i18n/format";
import { currentLanguage, t } from "./i18n/runtime";

/**
 * The words written in index.html, from the catalog: an element's text by `data-i18n="key"`,
 * its attributes by `data-i18n-attr="aria-label:key placeholder:key"`. A count for a plural
 * comes from `data-i18n-count`; an option marked `data-i18n-default` says it is the default.
 * The HTML keeps the English words, so a page whose script fails still reads.
 */
export function translatePage(root: ParentNode = document): void {
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n]")) {
    const count = el.dataset.i18nCount;
    let text = t(el.dataset.i18n!, count === undefined ? undefined : { count: Number(count) });
    if (el.dataset.i18nDefault !== undefined) text = t("send.isDefault", { option: text });
    el.textContent = text;
  }
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr!.split(/\s+/)) {
      const [attr, key] = pair.split(":");
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  // plain numbers in the markup (download limits) in the visitor's digits
  for (const el of root.querySelectorAll<HTMLElement>("[data-i18n-number]")) el.textContent = formatNumber(Number(el.dataset.i18nNumber), currentLanguage().tag);
  document.title = t("app.title");
}
