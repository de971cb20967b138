// Issue 24's machinery, without a browser: the catalogs (every key of English, no other, valid
// ICU, the same placeholders), the runtime (plurals by the language's rules, per-string fallback,
// never blank), language negotiation, Intl formats, ASCII ids and the id field's digits, and the
// pseudo-locale. The build (scripts/build-web.mjs) compiles the same catalogs with the same code.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parse } from "@messageformat/parser";
import { compileMessageOrThrow } from "@lingui/message-utils/compileMessage";
import { setupI18n } from "@lingui/core";
import { checkCatalogs, compiledCatalog, manifestLocalized, directionOf as buildDirectionOf, placeholders, pseudoCatalog, pseudoMessage, readCatalogs, sampleValues, PSEUDO, SOURCE } from "../../scripts/i18n.mjs";
import { directionOf, language, languageName } from "../../web/i18n/languages";
import { negotiateLanguage } from "../../web/i18n/negotiate";
import { t, useCatalog, currentLanguage, type Catalog } from "../../web/i18n/runtime";
import { interpolate } from "../../web/i18n/interpolate";
import { asciiDigits, isolate, ltr, terminalIdText, formatDate, formatList, formatRelative, formatSize, formatTerminalIdAscii, parseTerminalIdInput } from "../../web/i18n/format";
import { normalizeTerminalId } from "../../src/contract/ids";

const catalogs = readCatalogs();
const en = catalogs[SOURCE]!;
/** The languages issue 24 asks for; a catalog file makes one available (the build's list). */
const TARGET = ["en", "es", "pt-BR", "fr", "de", "zh-CN", "ja", "hi", "id", "ar"];

describe("catalogs (web/i18n/<tag>.json)", () => {
  it("English is there, with keys named by screen", () => {
    expect(Object.keys(en).length).toBeGreaterThan(150);
    for (const key of Object.keys(en)) expect(key).toMatch(/^[a-z]+\.[A-Za-z_]+$/);
  });

  it("every catalog: valid ICU, every key of en.json and no other, the same placeholders as English", () => {
    expect(checkCatalogs(catalogs)).toEqual([]);
  });

  it("only files of languages (tags Intl reads), never the pseudo-locale, which the build makes", () => {
    for (const tag of Object.keys(catalogs)) {
      expect(() => new Intl.Locale(tag)).not.toThrow();
      expect(tag).not.toBe(PSEUDO);
    }
  });

  it("the ten languages of issue 24 each have a catalog", () => {
    expect(Object.keys(catalogs).sort()).toEqual([...TARGET].sort());
  });

  it("every catalog renders every key with sample values: not blank, no ICU left, every value shown", () => {
    for (const tag of Object.keys(catalogs)) {
      useCatalog(language(tag), compiledCatalog(catalogs, tag));
      for (const [key, msg] of Object.entries(en)) {
        const values = sampleValues(msg);
        for (const n of [0, 1, 2, 5, 11, 100]) {
          const out = t(key, { ...sampleValues(msg, n) });
          expect(out.trim(), `${tag} ${key} (${n})`).not.toBe("");
          expect(out, `${tag} ${key}`).not.toMatch(/[{}]/);
        }
        for (const [name, v] of Object.entries(values)) if (typeof v === "string" && v !== "other") expect(t(key, values), `${tag} ${key}: ${name}`).toContain(v);
      }
    }
  });

  it("translations are translated: no sentence identical to English but the few words languages share", () => {
    // words several languages write as English does (Live, Offline, Browser, Message, Mac…)
    const shared = new Set(["live.open", "live.offline", "device.browser", "send.message", "sent.messageOnly"]);
    const names = /\{[^}]*\}|pushdrop|Chromebook|iPhone|iPad|Mac|Windows|Linux|Android|ZIP/g;
    for (const [tag, cat] of Object.entries(catalogs)) {
      if (tag === SOURCE) continue;
      const same = Object.keys(en).filter((k) => cat[k] === en[k] && /[a-z]{3}/.test(en[k]!.replace(names, "")));
      expect(same.filter((k) => !shared.has(k)), tag).toEqual([]);
    }
  });

  it("the glossary's words are the ones the catalogs use (device, transfer, recipient, sender, id)", () => {
    const rows = readFileSync(new URL("../../web/i18n/GLOSSARY.md", import.meta.url), "utf8")
      .split("\n")
      .filter((l) => l.startsWith("| "))
      .map((l) => l.split("|").slice(1, -1).map((c) => c.trim()));
    const header = rows[0]!;
    const term = (english: string, tag: string) => rows.find((r) => r[0]!.startsWith(`**${english}**`))![header.indexOf(tag)]!;
    for (const tag of TARGET.filter((x) => x !== SOURCE)) {
      const text = Object.values(catalogs[tag]!).join("\n").toLowerCase();
      for (const english of ["device", "transfer", "recipient", "sender", "terminal id"]) {
        const word = term(english, tag).toLowerCase();
        expect(text.includes(word), `${tag}: ${english} → ${word}`).toBe(true);
      }
    }
  });

  it("the check finds each kind of mistake (so the test above could fail)", () => {
    const bad = {
      en: { "a.one": "Hello {name}", "a.two": "{count, plural, one {# file} other {# files}}", "a.three": "Fine" },
      de: { "a.one": "Hallo {nme}", "a.two": "{count, plural, one {# Datei}}", "a.four": "Extra" },
      fr: { "a.one": "Bonjour {name", "a.two": "{count, plural, one {# fichier} other {# fichiers}}", "a.three": "Bien" },
      es: { "a.one": "Hola {name, date}", "a.two": "{count, plural, one {# archivo} other {# archivos}}", "a.three": "Bien" },
    };
    const problems = checkCatalogs(bad);
    expect(problems).toContainEqual('de: "a.one" has placeholders {nme}, en.json {name}');
    expect(problems).toContainEqual('de: "a.two": {count, plural} has no "other" case');
    expect(problems).toContainEqual('de: "a.four" is not a key of en.json');
    expect(problems).toContainEqual('de: "a.three" is missing');
    expect(problems.some((p) => p.startsWith('fr: "a.one": not valid ICU MessageFormat'))).toBe(true);
    expect(problems.filter((p) => p.startsWith("fr:"))).toHaveLength(1);
    expect(problems).toContainEqual('es: "a.one": {name, date} is not supported (format it with web/i18n/format.ts and pass a string)');
  });

  it("every English message renders with sample values, not blank, every placeholder filled", () => {
    useCatalog(language("en"), compiledCatalog(catalogs, "en"));
    for (const [key, msg] of Object.entries(en)) {
      const values = sampleValues(msg);
      const out = t(key, values);
      expect(out.trim(), key).not.toBe("");
      expect(out, key).not.toMatch(/[{}]/);
      for (const [name, v] of Object.entries(values)) if (typeof v === "string" && v !== "other") expect(out, `${key}: ${name}`).toContain(v);
    }
  });

  it("placeholders() reads arguments inside plural cases too", () => {
    expect(placeholders("{count, plural, one {{names} was told} other {{names} were told}} {n, number}")).toEqual(["count", "n", "names"]);
  });
});

describe("interpolate(): the same words as @lingui/core's own interpolation", () => {
  const messages = [
    ...Object.values(en),
    "{n, plural, =0 {none} one {# file} other {# files}}",
    "{n, plural, offset:1 =0 {nobody} =1 {{name}} one {{name} and # other} other {{name} and # others}}",
    "{n, selectordinal, one {#st} two {#nd} few {#rd} other {#th}}",
    "{g, select, a {A {n, number}} other {O}}",
    "{n, number, percent} done",
    "It's {name}'s turn",
  ];
  const locales = ["en", "de", "ar", "ar-EG", "ja", "hi", "pt-BR", "fr", "en-XA"];

  it.each(locales)("every English message and a few more, in %s, for counts 0, 1, 2, 3, 11, 100, 1.5, 12345", (locale) => {
    for (const msg of messages) {
      const compiled = compileMessageOrThrow(msg);
      const i18n = setupI18n({ locale, messages: { [locale]: { m: compiled } } });
      for (const n of [0, 1, 2, 3, 11, 100, 1.5, 12345]) {
        const values = { ...sampleValues(msg, n), g: n % 2 ? "a" : "b", name: "Ana" };
        expect(interpolate(compiled, locale, values), `${locale}: ${msg} (${n})`).toBe(i18n._("m", values));
      }
    }
  });
});

describe("runtime: t()", () => {
  const compile = (c: Record<string, string>): Catalog => Object.fromEntries(Object.entries(c).map(([k, v]) => [k, compileMessageOrThrow(v)]));

  it("plurals by the language's own rules (Arabic has six forms)", () => {
    const ar = compile({ files: "{n, plural, zero {لا ملفات} one {ملف واحد} two {ملفان} few {# ملفات} many {# ملفًا} other {# ملف}}" });
    useCatalog(language("ar"), ar);
    expect(t("files", { n: 0 })).toBe("لا ملفات");
    expect(t("files", { n: 2 })).toBe("ملفان");
    expect(t("files", { n: 3 })).toMatch(/ملفات$/);
    expect(t("files", { n: 11 })).toMatch(/ملفًا$/);
    expect(t("files", { n: 100 })).toMatch(/ملف$/);
    expect(currentLanguage()).toEqual({ tag: "ar", dir: "rtl" });
  });

  it("a string the language lacks (or leaves empty) is English's; one nobody has is its key, never blank", () => {
    const enC = compile({ "a.hello": "Hello {name}", "a.bye": "Bye", "a.count": "{n, plural, one {# file} other {# files}}" });
    useCatalog(language("de"), { ...compile({ "a.hello": "Hallo {name}" }), "a.bye": "" }, enC);
    expect(t("a.hello", { name: "Ana" })).toBe("Hallo Ana");
    expect(t("a.bye")).toBe("Bye");
    expect(t("a.count", { n: 1 })).toBe("1 file");
    expect(t("a.nothing")).toBe("a.nothing");
  });

  it("the build's catalog for a language holds every key (English where the language has none)", () => {
    const partial = { en: { "a.x": "X {n, number}", "a.y": "Y" }, de: { "a.x": "Ix {n, number}", "a.y": "" } };
    const c = compiledCatalog(partial, "de");
    expect(Object.keys(c)).toEqual(["a.x", "a.y"]);
    useCatalog(language("de"), c);
    expect(t("a.x", { n: 1234.5 })).toBe("Ix 1.234,5");
    expect(t("a.y")).toBe("Y");
  });
});

describe("language negotiation", () => {
  const pick = (preferred: string[], extra: { forced?: string; stored?: string } = {}) => negotiateLanguage({ preferred, available: TARGET, ...extra }).tag;

  it.each([
    [["ar-EG"], "ar"],
    [["ar"], "ar"],
    [["pt-PT"], "pt-BR"],
    [["pt"], "pt-BR"],
    [["pt-br"], "pt-BR"],
    [["zh-CN"], "zh-CN"],
    [["zh"], "zh-CN"],
    [["zh-SG"], "zh-CN"],
    [["zh-Hans-HK"], "zh-CN"],
    [["zh-TW"], "en"],
    [["zh-HK"], "en"],
    [["zh-Hant"], "en"],
    [["zh-TW", "ja"], "ja"],
    [["de-AT", "fr"], "de"],
    [["en-GB"], "en"],
    [["es-419"], "es"],
    [["fr-CA"], "fr"],
    [["in-ID"], "id"],
    [["hi-IN"], "hi"],
    [["sw", "ko", "de"], "de"],
    [["sw"], "en"],
    [[], "en"],
    [["not a tag", "es"], "es"],
    [["en-XA"], "en"],
  ])("navigator.languages %j → %s", (preferred, tag) => {
    expect(pick(preferred)).toBe(tag);
  });

  it("?lang= forces a language over the stored choice and the browser's; one with no catalog gives English", () => {
    expect(pick(["ar-EG"], { forced: "de", stored: "ja" })).toBe("de");
    expect(pick(["ar-EG"], { forced: "pt-PT" })).toBe("pt-BR");
    expect(pick(["de"], { forced: "zh-TW" })).toBe("en");
    expect(pick(["de"], { forced: "??" })).toBe("en");
    expect(pick(["de"], { forced: "en-XA" })).toBe("en-XA");
  });

  it("the stored choice comes before the browser's languages; an unusable one is ignored", () => {
    expect(pick(["ar-EG"], { stored: "fr" })).toBe("fr");
    expect(pick(["ar-EG"], { stored: "en-XA" })).toBe("en-XA");
    expect(pick(["ar-EG"], { stored: "ko" })).toBe("ar");
  });

  it("the direction comes from the script: rtl for Arabic, Persian, Hebrew, Urdu", () => {
    expect(directionOf("ar")).toBe("rtl");
    expect(directionOf("ar-EG")).toBe("rtl");
    expect(directionOf("fa")).toBe("rtl");
    expect(directionOf("he")).toBe("rtl");
    expect(directionOf("ur")).toBe("rtl");
    for (const tag of ["en", "de", "zh-CN", "ja", "hi", "id", "en-XA"]) expect(directionOf(tag)).toBe("ltr");
    expect(directionOf("??")).toBe("ltr");
  });

  it("the build's direction rule is the app's", () => {
    for (const tag of [...TARGET, "fa", "he", "ur", "en-XA", "??"]) expect(buildDirectionOf(tag), tag).toBe(directionOf(tag));
  });

  it("the web manifest gets the name and description in every catalog's language (Arabic marked rtl)", () => {
    const m = manifestLocalized(catalogs);
    expect(Object.keys(m.description_localized).sort()).toEqual(TARGET.filter((x) => x !== "en").sort());
    expect(m.description_localized.de).toBe(catalogs.de!["manifest.description"]);
    expect(m.description_localized.ar).toEqual({ value: catalogs.ar!["manifest.description"], dir: "rtl" });
    expect(m.name_localized.ja).toBe("pushdrop");
  });

  it("each language is named in itself", () => {
    expect(languageName("de")).toBe("Deutsch");
    expect(languageName("ar")).toBe("العربية");
    expect(languageName("zh-CN")).toBe("简体中文");
    expect(languageName("ja")).toBe("日本語");
  });
});

describe("formats by Intl", () => {
  it("sizes: decimal units in the visitor's language and digits", () => {
    expect(formatSize(300_000, "en")).toBe("300 kB");
    expect(formatSize(1_500_000, "de")).toBe("1,5 MB");
    expect(formatSize(2_345_000_000, "en")).toBe("2.3 GB");
    expect(formatSize(999, "en")).toBe("999 byte");
    expect(formatSize(300_000, "ar-EG")).toBe(new Intl.NumberFormat("ar-EG", { style: "unit", unit: "kilobyte", unitDisplay: "short", maximumFractionDigits: 0 }).format(300));
    expect(formatSize(300_000, "ar-EG")).toMatch(/٣٠٠/);
  });

  it("relative times: now, minutes, hours, days, either way", () => {
    const now = Date.UTC(2026, 11, 6, 12);
    expect(formatRelative(now + 10_000, "en", now)).toBe("now");
    expect(formatRelative(new Date(now - 5 * 60_000), "en", now)).toBe("5 minutes ago");
    expect(formatRelative(new Date(now + 23 * 3600_000).toISOString(), "en", now)).toBe("tomorrow");
    expect(formatRelative(now + 5 * 3600_000, "en", now)).toBe("in 5 hours");
    expect(formatRelative(now + 3 * 86400_000, "de", now)).toBe("in 3 Tagen");
    expect(formatRelative(now - 3 * 86400_000, "es", now)).toBe("hace 3 días");
  });

  it("dates and lists", () => {
    const d = Date.UTC(2026, 11, 6, 19, 45);
    expect(formatDate(d, "en", { dateStyle: "medium", timeZone: "UTC" })).toBe("Dec 6, 2026");
    expect(formatDate(d, "de", { dateStyle: "medium", timeZone: "UTC" })).toBe("06.12.2026");
    expect(formatList(["a.jpg", "b.pdf", "c.txt"], "en")).toBe("a.jpg, b.pdf, and c.txt");
    expect(formatList(["a.jpg", "b.pdf"], "es")).toBe("a.jpg y b.pdf");
    expect(formatList(["a.jpg", "b.pdf", "c.txt"], "ja")).toBe("a.jpg、b.pdf、c.txt");
  });
});

describe("terminal ids", () => {
  const ID = "578418129";

  it("the fixture is a well-formed id", () => {
    expect(normalizeTerminalId(ID)).toBe(ID);
  });

  it("always ASCII digits grouped by three, whatever Intl would print for the language", () => {
    expect(formatTerminalIdAscii(ID)).toBe("578 418 129");
    expect(new Intl.NumberFormat("ar-EG").format(Number(ID))).not.toBe("578 418 129"); // why it is not Intl's
    expect(formatTerminalIdAscii("٥٧٨٤١٨١٢٩")).toBe("578 418 129");
    expect(formatTerminalIdAscii("578-418-129")).toBe("578 418 129");
    expect(formatTerminalIdAscii("12345")).toBe("12345");
  });

  it("the id field takes Arabic-Indic, Persian, Devanagari and full-width digits", () => {
    expect(asciiDigits("٠١٢٣٤٥٦٧٨٩")).toBe("0123456789");
    expect(asciiDigits("۰۱۲۳۴۵۶۷۸۹")).toBe("0123456789");
    expect(asciiDigits("०१२३४५६७८९")).toBe("0123456789");
    expect(asciiDigits("０１２３４５６７８９")).toBe("0123456789");
    expect(asciiDigits("abc ١")).toBe("abc 1");
    for (const typed of ["578 418 129", "٥٧٨ ٤١٨ ١٢٩", "۵۷۸۴۱۸۱۲۹", "५७८-४१८-१२९", "٥٧٨٬٤١٨٬١٢٩", "578\u00a0418\u202f129", "５７８４１８１２９"]) {
      expect(parseTerminalIdInput(typed), typed).toBe(ID);
    }
  });

  it("in plain text (a notification in Arabic) an id is isolated left to right, a name by its own direction", () => {
    expect(terminalIdText("٥٧٨٤١٨١٢٩")).toBe("\u2066578 418 129\u2069");
    expect(ltr("https://a.example/x")).toBe("\u2066https://a.example/x\u2069");
    expect(isolate("تقرير.pdf")).toBe("\u2068تقرير.pdf\u2069");
    const ar = compiledCatalog(catalogs, "ar");
    useCatalog(language("ar"), ar);
    const out = t("notice.nameWithId", { name: isolate("Ana"), id: terminalIdText(ID) });
    expect(out).toContain("\u2066578 418 129\u2069");
    expect(out).toContain("\u2068Ana\u2069");
  });

  it("and still rejects what is not an id: a wrong check digit, too few digits, letters", () => {
    expect(parseTerminalIdInput("٥٧٨ ٤١٨ ١٢٨")).toBeNull();
    expect(parseTerminalIdInput("٥٧٨ ٤١٨")).toBeNull();
    expect(parseTerminalIdInput("578 418 12x")).toBeNull();
    expect(parseTerminalIdInput("")).toBeNull();
  });
});

describe("pseudo-locale en-XA", () => {
  const pseudo = pseudoCatalog(en);
  const compiledEn = compiledCatalog(catalogs, "en");
  const compiledPseudo = compiledCatalog(catalogs, PSEUDO);
  const render = (tag: string, c: Catalog, key: string, values: Record<string, unknown>) => {
    useCatalog(language(tag), c);
    return t(key, values);
  };

  it("every key, valid ICU, the same placeholders as English", () => {
    expect(Object.keys(pseudo)).toEqual(Object.keys(en));
    for (const [key, msg] of Object.entries(pseudo)) {
      expect(() => parse(msg), key).not.toThrow();
      expect(placeholders(msg), key).toEqual(placeholders(en[key]!));
    }
    expect(checkCatalogs({ en, [PSEUDO]: pseudo })).toEqual([]);
  });

  it("rendered: in brackets, no plain ASCII letter of English left, about 40 % longer, values intact", () => {
    for (const key of Object.keys(en)) {
      const values = sampleValues(en[key]!);
      const english = render("en", compiledEn, key, values);
      const out = render(PSEUDO, compiledPseudo, key, values);
      expect(out.startsWith("[") && out.endsWith("]"), `${key}: ${out}`).toBe(true);
      let text = out;
      for (const v of Object.values(values)) if (typeof v === "string") text = text.split(v).join("");
      expect(text, `${key}: ${out}`).not.toMatch(/[A-Za-z]/);
      for (const v of Object.values(values)) if (typeof v === "string" && v !== "other") expect(out, key).toContain(v);
      // the words grow by 40 % (values are the caller's and stay as they are)
      let englishText = english;
      for (const v of Object.values(values)) if (typeof v === "string") englishText = englishText.split(v).join("");
      expect([...text].length, `${key}: ${english} → ${out}`).toBeGreaterThanOrEqual(Math.floor([...englishText].length * 1.4));
    }
  });

  it("quotes what ICU would read as syntax, and keeps # in plurals", () => {
    expect(pseudoMessage("It's {n, plural, one {# file} other {# files}}")).toBe("[Îţ''š {n, plural, one {# ƒîļé ē} other {# ƒîļéš ēẋ}} ē]");
    const compiled = compileMessageOrThrow(pseudoMessage("It's {n, plural, one {# file} other {# files}}"));
    useCatalog(language(PSEUDO), { k: compiled });
    expect(t("k", { n: 3 })).toBe("[Îţ'š 3 ƒîļéš ēẋ ē]");
  });
});

describe("notifications (web/shared/notice.ts) speak the catalog's language", () => {
  const summary = {
    type: "transfer.ready",
    id: "Zx9vZx9vZx9vZx9vZx9vZw.ready",
    transferId: "Zx9vZx9vZx9vZx9vZx9vZw",
    summary: true,
    from: { id: "578418129", name: "Studio Mac" },
    message: "Raw files\nsecond line",
    files: { count: 240, size: 3_400_000_000, names: ["IMG_0001.CR3", "IMG_0002.CR3", "IMG_0003.CR3"] },
    expiresAt: "2026-12-07T00:00:00Z",
  } as const;

  it("English: plurals, Intl's list and size, no isolate marks around Latin names", async () => {
    const { noticeFor } = await import("../../web/shared/notice");
    useCatalog(language("en"), compiledCatalog(catalogs, "en"));
    const n = noticeFor(summary as never);
    expect(n.title).toBe("Studio Mac sent you 240 files");
    expect(n.body).toBe("IMG_0001.CR3, IMG_0002.CR3, IMG_0003.CR3 and 237 more · 3.4 GB\nRaw files");
    expect(noticeFor({ type: "transfer.expired", transferId: "x" } as never).title).toBe("A transfer expired");
  });

  it("German and Arabic: the catalog's words; in Arabic the names and the id isolated, the id in ASCII digits", async () => {
    const { noticeFor } = await import("../../web/shared/notice");
    useCatalog(language("de"), compiledCatalog(catalogs, "de"));
    expect(noticeFor(summary as never).title).toBe("Studio Mac hat Ihnen 240 Dateien gesendet");
    useCatalog(language("ar"), compiledCatalog(catalogs, "ar"));
    const n = noticeFor({ ...summary, from: { id: "578418129", name: "" } } as never);
    expect(n.title).toContain("\u2066578 418 129\u2069");
    expect(n.title).toMatch(/أرسل إليك/);
    expect(n.body).toContain("\u2068IMG_0001.CR3\u2069");
  });
});
