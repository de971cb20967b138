import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { dammDigit } from "../../src/contract/ids";
import { removeState, startServer, type Server } from "../node/support/server.ts";
import { checkPages, checkState, desktop, hasChromium, idOf, launch, noHorizontalScroll, open, phone, screenshot, plainSends, watch } from "./support.ts";

/**
 * Issue 24 in real Chromium: the main flows (first visit, send, receive, an error, a
 * notification from the service worker's push handler) in the pseudo-locale (`?lang=en-XA`:
 * every catalog string accented, longer, in brackets: a plain English word on the page is a
 * string not wired through the catalog), German (long words; chosen by the browser's language,
 * no ?lang) and Arabic (right to left, `?lang=ar` over an English browser), on a 360 px phone
 * and a 1280 px desktop, with screenshots of each (docs/screenshots/ with `npm run screenshots`).
 * After every test every page is checked as in app.test.ts: CSP, page errors, sideways scroll, axe.
 */

let server: Server;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!hasChromium()) throw new Error("Chromium is missing: apt-get install chromium (.ci/run does it)");
  server = await startServer();
  browser = await launch();
});

afterEach(async (t) => {
  await checkPages(contexts, t.task.name);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeState(server.state);
});

/**
 * English words left on the page: the text of every visible text node, plus aria-labels,
 * placeholders and titles, with the pseudo-locale's bracketed runs taken out; what remains may
 * hold ids, numbers, sizes, times by Intl (which knows no en-XA) and what people wrote (names,
 * file names, messages, links: inside <bdi>, dir=ltr, .fname, .text), never a word of 3 letters.
 */
async function englishLeft(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const EXEMPT = "bdi, :not(html)[dir=ltr], .fname, time, .brand, #lang, .text, a[href^=http], input, textarea, script, style, svg";
    let stream = "";
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest(EXEMPT) || !el.checkVisibility({ visibilityProperty: true })) {
        stream += " ¦ ";
        continue;
      }
      stream += n.nodeValue;
    }
    for (const el of document.querySelectorAll<HTMLElement>("[aria-label], [placeholder]")) {
      if (el.closest(EXEMPT.replace(", input, textarea", "")) || !el.checkVisibility({ visibilityProperty: true })) continue;
      stream += ` ¦ ${el.getAttribute("aria-label") ?? ""} ¦ ${el.getAttribute("placeholder") ?? ""} ¦ `;
    }
    // take out the bracketed runs (nested: a placeholder's own brackets inside a sentence's)
    let out = "";
    let depth = 0;
    for (const ch of stream) {
      if (ch === "[") depth++;
      else if (ch === "]" && depth > 0) depth--;
      else if (depth === 0) out += ch;
    }
    const cleaned = out
      .replace(/\d[\d.,\s]*\s?(byte|kB|MB|GB|TB)\b/g, " ")
      .replace(/\b(in|ago|now|seconds?|minutes?|hours?|days?|months?|years?|yesterday|tomorrow)\b/g, " ") // Intl's relative times: en-XA is English to Intl
      .replace(/pushdrop/g, " ");
    return [...cleaned.matchAll(/[A-Za-z][A-Za-z']{2,}/g)].map((m) => cleaned.slice(Math.max(0, m.index - 30), m.index + 30).replace(/\s+/g, " "));
  });
}

/** Elements sticking out of the viewport at its width (text that does not wrap, a button too wide). */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const out: string[] = [];
    const w = document.documentElement.clientWidth;
    for (const el of document.querySelectorAll<HTMLElement>("body *")) {
      if (!el.checkVisibility({ visibilityProperty: true }) || el.closest(".sr, .skip, svg, dialog:not([open])")) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.right > w + 1 || r.left < -1) out.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className}: ${Math.round(r.left)}…${Math.round(r.right)} of ${w}`);
      const style = getComputedStyle(el);
      if ((el.tagName === "BUTTON" || el.tagName === "LABEL" || el.tagName === "A") && style.overflowX !== "visible" && el.scrollWidth > el.clientWidth + 1) out.push(`${el.tagName.toLowerCase()}#${el.id}: clipped text "${el.textContent?.trim()}"`);
    }
    return out;
  });
}

/** A delivered push, through the DevTools protocol to the page's service worker (as app.test.ts does). */
async function pushTo(ctx: BrowserContext, page: Page, payload: unknown): Promise<Array<{ title: string; body: string }>> {
  const cdp = await ctx.newCDPSession(page);
  const registrations: Array<{ registrationId: string; scopeURL: string }> = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
  await cdp.send("ServiceWorker.enable");
  for (let i = 0; i < 100 && !registrations.some((r) => r.scopeURL === `${server.base}/`); i++) await page.waitForTimeout(100);
  const reg = registrations.find((r) => r.scopeURL === `${server.base}/`);
  expect(reg, "the service worker is registered").toBeDefined();
  await cdp.send("ServiceWorker.deliverPushMessage", { origin: server.base, registrationId: reg!.registrationId, data: JSON.stringify(payload) });
  let shown: Array<{ title: string; body: string }> = [];
  for (let i = 0; i < 100 && shown.length === 0; i++, await page.waitForTimeout(100)) {
    shown = await page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body })));
  }
  await cdp.detach();
  return shown;
}

const LANGUAGES = [
  // tag, how it is chosen (?lang or the browser's language), the browser's locale, its direction
  { tag: "en-XA", query: "?lang=en-XA", locale: "en-US", dir: "ltr" },
  { tag: "de", query: "", locale: "de-DE", dir: "ltr" },
  { tag: "ar", query: "?lang=ar", locale: "en-US", dir: "rtl" },
] as const;

/** Arabic-Indic digits for an id: what an Arabic keyboard types. */
const arabicDigits = (s: string) => s.replace(/\d/g, (d) => String.fromCharCode(0x0660 + Number(d)));

for (const L of LANGUAGES) {
  describe(`the web app in ${L.tag}`, () => {
    let P: Page; // phone, 360 px: receives
    let D: Page; // desktop, 1280 px: sends
    let pId: string;
    const suffix = (q: string) => (L.query ? `${q ? `${q}&` : "?"}${L.query.slice(1)}` : q);

    beforeAll(async () => {
      const p = await phone(browser, server.base, L.locale);
      const d = await desktop(browser, server.base, L.locale);
      for (const c of [p, d]) {
        contexts.push(c);
        await watch(c);
        await plainSends(c); // (plain transfers: sealed-send.test.ts checks sealed ones)
      }
      P = await open(p, `/${suffix("")}`);
      pId = await idOf(P);
      D = await open(d, `/${suffix(`?to=${pId}`)}`);
    });

    it("first visit: the language, <html lang dir>, This device in its words, nothing sticking out at 360 px", async () => {
      expect(await P.evaluate(() => [document.documentElement.lang, document.documentElement.dir])).toEqual([L.tag, L.dir]);
      // the id stays ASCII digits, grouped, left to right, whatever the language
      expect(await P.locator("#my-id").textContent()).toMatch(/^\d{3} \d{3} \d{3}$/);
      expect(await P.locator("#my-id bdi").getAttribute("dir")).toBe("ltr");
      // the picker says which language this is, under its accessible name "Language" (in the language)
      const picker = P.locator("#lang");
      expect(await picker.inputValue()).toBe(L.query ? L.tag : "");
      expect(await picker.locator("option").count()).toBeGreaterThanOrEqual(10);
      if (L.tag === "en-XA") expect(await englishLeft(P)).toEqual([]);
      if (L.tag === "de") await P.getByRole("link", { name: "Dieses Gerät", exact: true }).waitFor();
      if (L.tag === "ar") {
        // mirrored: the first tab (Received) sits right of the second (Send) on the bottom bar
        const received = (await P.locator('.tabs a[data-screen="received"]').boundingBox())!;
        const send = (await P.locator('.tabs a[data-screen="send"]').boundingBox())!;
        expect(received.x).toBeGreaterThan(send.x);
      }
      expect(await overflowing(P)).toEqual([]);
      await checkState(P, `${L.tag}: first visit, 360 px`);
      await screenshot(P, `i18n-${L.tag}-phone-1-first-visit`);
    });

    it("send: the form, its options and the recipient's name in the language, at 1280 px", async () => {
      await D.locator('#send-h').waitFor();
      if (L.tag === "ar") {
        // an id typed with an Arabic keyboard's digits is an id
        await D.locator("#to").fill(arabicDigits(pId));
        await D.locator("#to-hint.ok").waitFor({ timeout: 15_000 });
      }
      await D.locator("#files").setInputFiles([{ name: "Ferienfotos_Sonnenuntergang_am_Strand_2026.jpg", mimeType: "image/jpeg", buffer: Buffer.alloc(300_000, 7) }]);
      await D.locator("#message").fill("Hallo! https://example.org/a");
      if (L.tag === "en-XA") expect(await englishLeft(D)).toEqual([]);
      expect(await overflowing(D)).toEqual([]);
      await screenshot(D, `i18n-${L.tag}-desktop-1-send`, D.locator("#send-form"));
      await D.locator("#send-btn").click();
      await D.locator("#outbox > li").first().waitFor();
      await D.locator("#outbox .status").first().filter({ hasText: /\S/ }).waitFor();
      if (L.tag === "en-XA") expect(await englishLeft(D)).toEqual([]);
      await checkState(D, `${L.tag}: sent, 1280 px`);
      await screenshot(D, `i18n-${L.tag}-desktop-2-sent`, D.locator("#outbox"));
    });

    it("receive: the transfer arrives live and reads in the language at 360 px", async () => {
      await P.locator('.tabs a[data-screen="received"]').click();
      const entry = P.locator("#inbox > li").first();
      await entry.waitFor({ timeout: 30_000 });
      await entry.locator('[data-key="download"], button.primary, a.primary').first().waitFor();
      // the file name and the sender's id stay left to right inside the sentence
      expect(await entry.locator("bdi[dir=ltr]").first().textContent()).toMatch(/^\d{3} \d{3} \d{3}$/);
      if (L.tag === "en-XA") expect(await englishLeft(P)).toEqual([]);
      if (L.tag === "de") expect(await entry.textContent()).toMatch(/Läuft ab|Herunterladen/);
      expect(await overflowing(P)).toEqual([]);
      await checkState(P, `${L.tag}: received, 360 px`);
      await screenshot(P, `i18n-${L.tag}-phone-2-received`, entry);
    });

    it("an error: an id that is not one is refused in the language's words", async () => {
      const bad = `12345678${(dammDigit("12345678") + 1) % 10}`;
      await D.locator("#to").fill(bad);
      await D.locator("#send-btn").click();
      const error = D.locator("#send-error");
      await error.waitFor();
      const text = (await error.textContent())!;
      expect(text).not.toMatch(/is not a pushdrop id/);
      if (L.tag === "en-XA") {
        expect(text.startsWith("[")).toBe(true);
        expect(await englishLeft(D)).toEqual([]);
      }
      if (L.tag === "ar") expect(text).toMatch(/[\u0600-\u06ff]/);
      if (L.tag === "de") expect(text).toMatch(/keine pushdrop-ID|pushdrop/);
      await checkState(D, `${L.tag}: an error, 1280 px`);
      await screenshot(D, `i18n-${L.tag}-desktop-3-error`, D.locator("#send-form"));
      // and at 360 px, the phone's own form says it too, with nothing sticking out
      await P.locator('.tabs a[data-screen="send"]').click();
      await P.locator("#to").fill(bad);
      await P.locator("#send-btn").click();
      await P.locator("#send-error").waitFor();
      expect(await overflowing(P)).toEqual([]);
      await screenshot(P, `i18n-${L.tag}-phone-3-error`, P.locator("#send-form"));
    });

    it("a notification from the service worker speaks the language", async () => {
      const shown = await pushTo(contexts.at(-2)!, P, {
        type: "transfer.ready",
        id: "Zx9vZx9vZx9vZx9vZx9vZw.ready",
        transferId: "Zx9vZx9vZx9vZx9vZx9vZw",
        summary: true,
        from: { id: pId, name: "Studio Mac" },
        message: "Raw files",
        files: { count: 240, size: 3_400_000_000, names: ["IMG_0001.CR3", "IMG_0002.CR3", "IMG_0003.CR3"] },
        expiresAt: new Date(Date.now() + 86_400_000).toISOString(),
      });
      expect(shown).toHaveLength(1);
      const [n] = shown;
      expect(n!.title).toContain("Studio Mac");
      expect(n!.title).not.toMatch(/sent you/);
      if (L.tag === "en-XA") expect(n!.title.startsWith("[")).toBe(true);
      if (L.tag === "de") expect(n!.title).toMatch(/hat Ihnen 240 Dateien gesendet/);
      if (L.tag === "ar") expect(n!.title).toMatch(/أرسل إليك/);
      expect(n!.body).toContain("IMG_0001.CR3");
    });
  });
}

describe("?lang=en forces English over another browser language", () => {
  it("a German browser with ?lang=en shows Received, Send, This device", async () => {
    const ctx = await phone(browser, server.base, "de-DE");
    contexts.push(ctx);
    await watch(ctx);
    const page = await open(ctx, "/?lang=en");
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("en");
    for (const name of ["Received", "Send", "This device"]) await page.getByRole("link", { name, exact: true }).waitFor();
    await page.getByLabel("Language", { exact: true }).waitFor();
    // (and the pseudo-locale's check would see English: it is not blind)
    expect((await englishLeft(page)).length).toBeGreaterThan(5);
    expect(await noHorizontalScroll(page)).toBe(0);
  });

  it("the picker on This device keeps a language for this browser, and 'the browser's language' gives it back", async () => {
    const ctx = await phone(browser, server.base, "de-DE");
    contexts.push(ctx);
    await watch(ctx);
    const page = await open(ctx, "/");
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("de");
    await page.getByRole("link", { name: "Dieses Gerät", exact: true }).click();
    await page.getByLabel("Sprache", { exact: true }).selectOption("ar");
    await page.waitForFunction(() => document.documentElement.dir === "rtl" && document.documentElement.dataset.ready === "true");
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("ar");
    // kept where the service worker reads it
    const kept = await page.evaluate(
      () =>
        new Promise<unknown>((resolve) => {
          const req = indexedDB.open("pushdrop-i18n");
          req.onsuccess = () => {
            const get = req.result.transaction("prefs").objectStore("prefs").get("override");
            get.onsuccess = () => resolve(get.result);
          };
        }),
    );
    expect(kept).toBe("ar");
    await page.reload();
    await page.locator("html[data-ready=true]").waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("ar");
    await page.locator("#lang").selectOption("");
    await page.waitForFunction(() => document.documentElement.lang === "de" && document.documentElement.dataset.ready === "true");
  });
});
