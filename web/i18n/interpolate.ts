/**
 * Renders a message compiled by Lingui's compiler (@lingui/message-utils, at build time:
 * scripts/i18n.mjs) with the same results as @lingui/core's own interpolation (checked message
 * by message in test/cli/i18n.test.ts), in a fraction of its size: the app shell has 25 KB
 * gzipped for everything, and @lingui/core's I18n class (events, locale data, its dev warnings)
 * would take 2.3 KB of it where this takes about 0.5. Parsing and checking ICU, the hard part,
 * stays with the library at build time.
 *
 * The compiled form: an array of strings and [name], [name, "number", style?],
 * [name, "plural" | "selectordinal" | "select", { offset?, "0": […], one: […], other: […] }];
 * "#" inside a plural case is the number. Dates and times are formatted by the caller
 * (format.ts) and passed as strings: the catalogs' check refuses {x, date} and {x, time}.
 */
export type CompiledToken = string | [name: string, type?: string, format?: unknown];
export type CompiledMessage = string | CompiledToken[];

const cache = new Map<string, Intl.NumberFormat | Intl.PluralRules>();
function memo<T extends Intl.NumberFormat | Intl.PluralRules>(key: string, make: () => T): T {
  let v = cache.get(key) as T | undefined;
  if (!v) cache.set(key, (v = make()));
  return v;
}
const numberFormat = (locale: string, options?: Intl.NumberFormatOptions) =>
  memo(`n|${locale}|${JSON.stringify(options)}`, () => new Intl.NumberFormat(locale, options));
const pluralRules = (locale: string, type: Intl.PluralRuleType) => memo(`p|${locale}|${type}`, () => new Intl.PluralRules(locale, { type }));

export function interpolate(message: CompiledMessage, locale: string, values: Record<string, unknown> = {}): string {
  const render = (tokens: CompiledMessage, count?: number): string => {
    if (typeof tokens === "string") return tokens;
    let out = "";
    for (const token of tokens) {
      if (typeof token === "string") {
        out += token === "#" && count !== undefined ? numberFormat(locale).format(count) : token;
        continue;
      }
      const [name, type, format] = token;
      const value = values[name];
      if (type === "plural" || type === "selectordinal") {
        const { offset = 0, ...cases } = format as Record<string, CompiledMessage> & { offset?: number };
        const n = value as number;
        const rules = pluralRules(locale, type === "plural" ? "cardinal" : "ordinal");
        const chosen = cases[String(n)] ?? cases[rules.select(n - offset)] ?? cases.other;
        if (chosen !== undefined) out += render(chosen, n - offset);
      } else if (type === "select") {
        const cases = format as Record<string, CompiledMessage>;
        const chosen = cases[String(value)] ?? cases.other;
        if (chosen !== undefined) out += render(chosen);
      } else if (type === "number") {
        out += numberFormat(locale, typeof format === "string" ? { style: format as Intl.NumberFormatOptions["style"] } : (format as Intl.NumberFormatOptions | undefined)).format(value as number);
      } else if (value != null) {
        out += String(value);
      }
    }
    return out;
  };
  return render(message);
}
