// The web app's message catalogs at build time (scripts/build-web.mjs) and in tests
// (test/cli/i18n.test.ts): web/i18n/<tag>.json hold ICU MessageFormat strings by key; English
// (en.json) is the source and every other catalog has its keys, no others, and the same
// placeholders. Here they are read, checked, merged with English (a string a language lacks,
// or leaves empty, is English's), compiled into Lingui's JSON form (what @lingui/core
// interpolates in the browser: web/i18n/runtime.ts), and the pseudo-locale en-XA is made from
// English (accented, about 40 % longer, in brackets, placeholders untouched).
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "@messageformat/parser";
import { compileMessageOrThrow } from "@lingui/message-utils/compileMessage";

export const I18N_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "web", "i18n");
export const SOURCE = "en";
export const PSEUDO = "en-XA";

/** Every catalog in web/i18n/: { en: {...}, de: {...}, … } (a file is a language; its name is its tag). */
export function readCatalogs(dir = I18N_DIR) {
  const out = {};
  for (const name of readdirSync(dir).sort()) {
    if (!name.endsWith(".json") || name.startsWith("tsconfig")) continue;
    const tag = name.slice(0, -5);
    const data = JSON.parse(readFileSync(path.join(dir, name), "utf8"));
    if (!data || typeof data !== "object" || Array.isArray(data)) throw new Error(`${name}: not an object of key → message`);
    for (const [k, v] of Object.entries(data)) if (typeof v !== "string") throw new Error(`${name}: "${k}" is not a string`);
    out[tag] = data;
  }
  if (!out[SOURCE]) throw new Error(`web/i18n/${SOURCE}.json is missing`);
  return out;
}

/** The names a message takes: {name}, {count, plural, …}, {n, number} (sorted, each once). */
export function placeholders(message) {
  const names = new Set();
  const walk = (tokens) => {
    for (const t of tokens) {
      if (t.type === "argument" || t.type === "function") names.add(t.arg);
      if (t.type === "plural" || t.type === "select" || t.type === "selectordinal") {
        names.add(t.arg);
        for (const c of t.cases) walk(c.tokens);
      }
    }
  };
  walk(parse(message));
  return [...names].sort();
}

/**
 * What is wrong with the catalogs, as sentences (empty when nothing): ICU syntax (strictly, by
 * @messageformat/parser and Lingui's compiler), keys missing or extra against English,
 * placeholders that differ from English's, plurals without an `other` case, and {x, date} or
 * {x, time} (the page formats those with Intl, web/i18n/format.ts, and passes a string; the
 * browser's interpolation, web/i18n/interpolate.ts, does not format dates).
 */
export function checkCatalogs(catalogs) {
  const problems = [];
  const en = catalogs[SOURCE];
  const enKeys = Object.keys(en);
  for (const [tag, cat] of Object.entries(catalogs)) {
    for (const [key, msg] of Object.entries(cat)) {
      try {
        const tokens = parse(msg);
        compileMessageOrThrow(msg);
        for (const p of plurals(tokens)) if (!p.cases.some((c) => c.key === "other")) problems.push(`${tag}: "${key}": {${p.arg}, ${p.type}} has no "other" case`);
        for (const f of functions(tokens)) if (f.key !== "number") problems.push(`${tag}: "${key}": {${f.arg}, ${f.key}} is not supported (format it with web/i18n/format.ts and pass a string)`);
      } catch (e) {
        problems.push(`${tag}: "${key}": not valid ICU MessageFormat: ${String(e.message ?? e).split("\n")[0]}`);
        continue;
      }
      if (tag === SOURCE) continue;
      if (!(key in en)) {
        problems.push(`${tag}: "${key}" is not a key of ${SOURCE}.json`);
        continue;
      }
      const want = placeholders(en[key]).join(",");
      const have = placeholders(msg).join(",");
      if (want !== have) problems.push(`${tag}: "${key}" has placeholders {${have}}, ${SOURCE}.json {${want}}`);
    }
    if (tag !== SOURCE) for (const k of enKeys) if (!(k in cat)) problems.push(`${tag}: "${k}" is missing`);
  }
  return problems;
}

function* plurals(tokens) {
  for (const t of tokens) {
    if (t.type === "plural" || t.type === "select" || t.type === "selectordinal") {
      yield t;
      for (const c of t.cases) yield* plurals(c.tokens);
    }
  }
}

function* functions(tokens) {
  for (const t of tokens) {
    if (t.type === "function") yield t;
    if (t.cases) for (const c of t.cases) yield* functions(c.tokens);
  }
}

/** A catalog as the browser gets it: English's keys, the language's words where it has them, compiled. */
export function compiledCatalog(catalogs, tag) {
  const en = catalogs[SOURCE];
  const own = tag === PSEUDO ? pseudoCatalog(en) : catalogs[tag];
  const out = {};
  for (const key of Object.keys(en)) {
    const msg = own?.[key] ? own[key] : en[key];
    out[key] = compileMessageOrThrow(msg);
  }
  return out;
}

// ---- the pseudo-locale ------------------------------------------------------------------------

const ACCENTS = {
  a: "á", b: "ƀ", c: "ç", d: "ð", e: "é", f: "ƒ", g: "ĝ", h: "ĥ", i: "î", j: "ĵ", k: "ķ", l: "ļ", m: "ɱ",
  n: "ñ", o: "ö", p: "þ", q: "ǫ", r: "ŕ", s: "š", t: "ţ", u: "û", v: "ṽ", w: "ŵ", x: "ẋ", y: "ý", z: "ž",
  A: "Å", B: "Ɓ", C: "Ç", D: "Ð", E: "É", F: "Ƒ", G: "Ĝ", H: "Ĥ", I: "Î", J: "Ĵ", K: "Ķ", L: "Ļ", M: "Ṁ",
  N: "Ñ", O: "Ö", P: "Þ", Q: "Ǫ", R: "Ŕ", S: "Š", T: "Ţ", U: "Û", V: "Ṽ", W: "Ŵ", X: "Ẋ", Y: "Ý", Z: "Ž",
};
const PAD = " ēẋţŕå ţéẋţ ƒöŕ ļöñĝéŕ ŵöŕðš";

/**
 * One English message in the pseudo-locale, as ICU source: "Send to {name}" → "[Šéñð ţö {name} ēẋţŕå]".
 * Letters are accented; each run of text (the message, each plural or select case) gets filler
 * worth 40 % of its letters, rounded up, at its end; placeholders, `#` and case keys stay as they are.
 */
export function pseudoMessage(message) {
  return `[${print(pseudoTokens(parse(message)))}]`;
}

function pseudoTokens(tokens) {
  let length = 0;
  const out = tokens.map((t) => {
    if (t.type === "content") {
      length += [...t.value].length;
      return { ...t, value: [...t.value].map((ch) => ACCENTS[ch] ?? ch).join("") };
    }
    if (t.cases) return { ...t, cases: t.cases.map((c) => ({ ...c, tokens: pseudoTokens(c.tokens) })) };
    return t;
  });
  const n = Math.ceil(length * 0.4);
  if (n > 0) {
    let pad = "";
    while ([...pad].length < n) pad += PAD;
    out.push({ type: "content", value: [...pad].slice(0, n).join("") });
  }
  return out;
}

export function pseudoCatalog(en) {
  return Object.fromEntries(Object.entries(en).map(([k, v]) => [k, pseudoMessage(v)]));
}

/** ICU source of parsed tokens (content mapped by `text`), quoting what ICU would read as syntax. */
export function print(tokens, inPlural = false, text = (s) => s) {
  let out = "";
  for (const t of tokens) {
    switch (t.type) {
      case "content":
        out += quote(text(t.value), inPlural);
        break;
      case "octothorpe":
        out += "#";
        break;
      case "argument":
        out += `{${t.arg}}`;
        break;
      case "function":
        out += `{${t.arg}, ${t.key}${t.param ? `,${print(t.param, false)}` : ""}}`;
        break;
      default: {
        const offset = t.pluralOffset ? ` offset:${t.pluralOffset}` : "";
        const cases = t.cases.map((c) => `${c.key} {${print(c.tokens, t.type !== "select", text)}}`).join(" ");
        out += `{${t.arg}, ${t.type},${offset} ${cases}}`;
      }
    }
  }
  return out;
}

function quote(s, inPlural) {
  return s.replace(/'/g, "''").replace(inPlural ? /[{}#]+/g : /[{}]+/g, (m) => `'${m}'`);
}

/**
 * Values to render a message with, from its placeholders: a number for plural, selectordinal and
 * number arguments, "other" for select, a marked string («name») for the rest.
 */
export function sampleValues(message, n = 2) {
  const values = {};
  const walk = (tokens) => {
    for (const t of tokens) {
      if (t.type === "argument") values[t.arg] ??= `«${t.arg}»`;
      if (t.type === "function") values[t.arg] = t.key === "number" ? n : `«${t.arg}»`;
      if (t.type === "plural" || t.type === "selectordinal") values[t.arg] = n;
      if (t.type === "select") values[t.arg] = "other";
      if (t.cases) for (const c of t.cases) walk(c.tokens);
    }
  };
  walk(parse(message));
  return values;
}

/**
 * The web manifest's words in every language, as the manifest spec's localized members
 * (`name_localized`, `short_name_localized`, `description_localized`: { "de": "…", "ar":
 * { value, dir: "rtl" } }). Experimental: browsers that know them show the installed app's name
 * and description in the device's language; the others ignore them and use the top-level
 * English. Plain strings only (a manifest has no placeholders).
 */
export function manifestLocalized(catalogs, dirOf = directionOf) {
  const out = { name_localized: {}, short_name_localized: {}, description_localized: {} };
  for (const [tag, cat] of Object.entries(catalogs)) {
    if (tag === SOURCE || tag === PSEUDO) continue;
    const text = (key) => {
      const value = cat[key] || catalogs[SOURCE][key];
      return dirOf(tag) === "rtl" ? { value, dir: "rtl" } : value;
    };
    out.name_localized[tag] = text("manifest.name");
    out.short_name_localized[tag] = text("manifest.name");
    out.description_localized[tag] = text("manifest.description");
  }
  return out;
}

const RTL_SCRIPTS = new Set(["Arab", "Hebr", "Thaa", "Syrc", "Nkoo", "Adlm", "Rohg", "Mand", "Samr"]);

/** A language's direction by its script (the same rule as web/i18n/languages.ts, for the build). */
export function directionOf(tag) {
  try {
    return RTL_SCRIPTS.has(new Intl.Locale(tag).maximize().script ?? "") ? "rtl" : "ltr";
  } catch {
    return "ltr";
  }
}
