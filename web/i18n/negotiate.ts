import { AVAILABLE, PSEUDO_LANGUAGE, SOURCE_LANGUAGE, language, type Language } from "./languages";

/**
 * Which catalog a visitor gets. Pure: the page (choose.ts) and the service worker
 * (sw-catalog.ts) pass in what they read; tests pass the catalogs too.
 *
 * A requested tag matches a catalog when both name the same language in the same script once
 * each is expanded with its likely subtags (`Intl.Locale#maximize`, CLDR's data): `ar-EG` →
 * `ar`, `pt-PT` → `pt-BR` (both Portuguese in Latin script), `zh-SG` and `zh-Hans` → `zh-CN`
 * (Simplified Chinese), but `zh-TW`, `zh-HK` and `zh-Hant` (Traditional script) match no
 * catalog, since Simplified Chinese is not what they asked for; they get the next language
 * they listed, and English when none matches.
 */
export interface LanguageRequest {
  /** `?lang=<tag>`: forces a language (tests, shared links); a tag with no catalog gives English */
  forced?: string | null;
  /** the picker's choice kept by this browser */
  stored?: string | null;
  /** `navigator.languages`, most preferred first */
  preferred?: readonly string[];
  /** the catalogs there are (default: this build's) */
  available?: readonly string[];
}

export function negotiateLanguage(req: LanguageRequest): Language {
  const available = req.available ?? AVAILABLE;
  const english = language(SOURCE_LANGUAGE);
  if (req.forced) return matchOne(req.forced, available, true) ?? english;
  if (req.stored) {
    const l = matchOne(req.stored, available, true);
    if (l) return l;
  }
  for (const tag of req.preferred ?? []) {
    const l = matchOne(tag, available, false);
    if (l) return l;
  }
  return english;
}

/** The catalog for one requested tag, or undefined; the pseudo-locale only when asked by name. */
export function matchOne(tag: string, available: readonly string[], allowPseudo: boolean): Language | undefined {
  const t = tag.trim();
  if (t.toLowerCase() === PSEUDO_LANGUAGE.toLowerCase()) return allowPseudo ? language(PSEUDO_LANGUAGE) : undefined;
  const exact = available.find((a) => a.toLowerCase() === t.toLowerCase());
  if (exact) return language(exact);
  const want = likely(t);
  if (!want) return undefined;
  // the same language and script; the same region first (a future en-GB beside en)
  let best: string | undefined;
  for (const a of available) {
    const have = likely(a);
    if (!have || have.language !== want.language || have.script !== want.script) continue;
    if (have.region === want.region) return language(a);
    best ??= a;
  }
  return best === undefined ? undefined : language(best);
}

function likely(tag: string): { language: string; script: string | undefined; region: string | undefined } | undefined {
  try {
    const loc = new Intl.Locale(tag).maximize();
    return { language: loc.language, script: loc.script, region: loc.region };
  } catch {
    return undefined; // not a well-formed tag (e.g. "??" from a hand-edited URL)
  }
}
