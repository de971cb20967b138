import { generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from "playwright-core";
import { encode } from "uqr";
import { expect } from "vitest";
import { ROOT } from "../node/support/server.ts";

/**
 * Real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no browser
 * download) for the web app's tests, with the flags that work offline, and a fake camera that
 * shows a QR code (Chromium plays a .y4m file as the webcam).
 */

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const OFFLINE_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function hasChromium(): boolean {
  return existsSync(CHROMIUM);
}

export async function launch(camera?: string): Promise<Browser> {
  const args = [...OFFLINE_FLAGS];
  if (camera) args.push("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream", `--use-file-for-fake-video-capture=${camera}`);
  return chromium.launch({ executablePath: CHROMIUM, args });
}

/**
 * A phone (360×740, touch) and a desktop (1280×800), each its own browser profile. Their
 * browser language is English unless a test asks for another (the app follows
 * navigator.languages: the tests in English must not depend on the machine's locale).
 */
export async function phone(browser: Browser, base: string, locale = "en-US"): Promise<BrowserContext> {
  return browser.newContext({
    baseURL: base,
    locale,
    viewport: { width: 360, height: 740 },
    deviceScaleFactor: 1.5,
    isMobile: true,
    hasTouch: true,
    userAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
    permissions: ["clipboard-read", "clipboard-write", "notifications"],
  });
}

export async function desktop(browser: Browser, base: string, locale = "en-US"): Promise<BrowserContext> {
  return browser.newContext({
    baseURL: base,
    locale,
    viewport: { width: 1280, height: 800 },
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
    permissions: ["clipboard-read", "clipboard-write", "notifications"],
  });
}

/** Uncaught errors of each page (every page of a watched context): a test fails on any. */
const pageErrors = new WeakMap<Page, string[]>();

/**
 * Watches every page of a context: its CSP violations (the page is served with the strict
 * policy of public/_headers: an inline script or style, or a request to another host, is one)
 * and its uncaught errors, which `checkPages` asserts after every test.
 */
export async function watch(ctx: BrowserContext): Promise<void> {
  await ctx.addInitScript(() => {
    const w = window as unknown as { __violations: string[] };
    w.__violations = [];
    document.addEventListener("securitypolicyviolation", (e) => w.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  });
  ctx.on("page", (page) => {
    const errors: string[] = [];
    pageErrors.set(page, errors);
    page.on("pageerror", (e) => errors.push(e.message));
  });
}

export async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { __violations?: string[] }).__violations ?? []);
}

/** axe-core's serious and critical findings on the page as it is now, one line each. */
export async function axe(page: Page): Promise<string[]> {
  const result = await new AxeBuilder({ page }).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/**
 * A state the tests reached, checked as a person would meet it: no sideways scroll, no serious
 * or critical accessibility finding. `what` names the state in a failure.
 */
export async function checkState(page: Page, what: string): Promise<void> {
  expect(await noHorizontalScroll(page), `sideways scroll: ${what}`).toBe(0);
  expect(await axe(page), `accessibility: ${what}`).toEqual([]);
}

/** After every test, on every open page of these contexts: no CSP violation, no uncaught error, no sideways scroll, nothing axe calls serious. */
export async function checkPages(contexts: Array<BrowserContext | undefined>, test: string): Promise<void> {
  for (const ctx of contexts) {
    for (const page of ctx?.pages() ?? []) {
      if (page.isClosed() || page.url() === "about:blank") continue;
      const where = `${test} (${page.url()}, ${page.viewportSize()?.width} px)`;
      expect(await violations(page), `CSP violations: ${where}`).toEqual([]);
      expect(pageErrors.get(page) ?? [], `page errors: ${where}`).toEqual([]);
      await checkState(page, where);
    }
  }
}

/** Opens the app and waits until it has its id, inbox and sent list. */
export async function open(ctx: BrowserContext, url = "/"): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(url);
  await page.locator("html[data-ready=true]").waitFor({ timeout: 30_000 });
  return page;
}

export async function idOf(page: Page): Promise<string> {
  return (await page.locator("#my-id").textContent())!.replace(/\s/g, "");
}

/** Chooses one of the app's screens by its tab (Received, Send, This device), as a thumb would. */
export async function tab(page: Page, name: "Received" | "Send" | "This device"): Promise<void> {
  await page.getByRole("navigation").getByRole("link", { name, exact: true }).click();
  await page.waitForFunction((n) => document.querySelector(".tabs a[aria-current=page]")?.textContent?.includes(n), name);
}

export async function noHorizontalScroll(page: Page): Promise<number> {
  return page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
}

/**
 * Screenshots of the main screens, as a person sees them (the viewport, scrolled to `target`
 * when given): written to docs/screenshots/ when PUSHDROP_SCREENSHOTS is set (`npm run
 * screenshots`), else into test/browser/.out/, so a plain `npm test` leaves the work tree as it
 * was (ids, ports and times differ on every run).
 */
export async function screenshot(page: Page, name: string, target?: Locator): Promise<void> {
  const dir = process.env.PUSHDROP_SCREENSHOTS ? path.join(ROOT, "docs", "screenshots") : path.join(ROOT, "test", "browser", ".out");
  mkdirSync(dir, { recursive: true });
  if (target) await target.evaluate((el) => el.scrollIntoView({ block: "center" }));
  else await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(150);
  await page.screenshot({ path: path.join(dir, `${name}.png`), animations: "disabled", caret: "hide" });
}

export { sha256 } from "../node/support/bytes.ts";
export const random = (n: number) => new Uint8Array(randomBytes(n));

/** A video file for Chromium's fake camera: a QR code of `text`, black on white (YUV 4:2:0). */
export function qrVideo(file: string, text: string): void {
  const W = 480;
  const H = 360;
  const { data, size } = encode(text, { ecc: "M", border: 4 });
  const scale = Math.floor(Math.min(W, H) / size) - 1;
  const ox = Math.floor((W - size * scale) / 2);
  const oy = Math.floor((H - size * scale) / 2);
  const y = Buffer.alloc(W * H, 235);
  for (let r = 0; r < size; r++) {
    for (let c = 0; c < size; c++) {
      if (!data[r]![c]) continue;
      for (let dy = 0; dy < scale; dy++) y.fill(16, (oy + r * scale + dy) * W + ox + c * scale, (oy + r * scale + dy) * W + ox + (c + 1) * scale);
    }
  }
  const chroma = Buffer.alloc((W / 2) * (H / 2) * 2, 128);
  const frame = Buffer.concat([Buffer.from("FRAME\n"), y, chroma]);
  writeFileSync(file, Buffer.concat([Buffer.from(`YUV4MPEG2 W${W} H${H} F10:1 Ip A1:1 C420jpeg\n`), frame, frame]));
}

/**
 * What a browser's PushManager would return, for a push service on this machine: offline
 * Chromium cannot reach its vendor's push service, so the page's `pushManager.subscribe` is
 * replaced (before the app loads) by one that answers with this subscription. The keys are a
 * real P-256 point and 16 random bytes, as the server checks.
 */
export function fakeSubscription(endpoint: string): { endpoint: string; keys: { p256dh: string; auth: string } } {
  const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const jwk = publicKey.export({ format: "jwk" }) as { x: string; y: string };
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, "base64url"), Buffer.from(jwk.y, "base64url")]);
  return { endpoint, keys: { p256dh: point.toString("base64url"), auth: randomBytes(16).toString("base64url") } };
}

/** Installs the fake PushManager.subscribe in every page of `ctx` (runs before the app's script). */
export async function fakePushManager(ctx: BrowserContext, sub: ReturnType<typeof fakeSubscription>): Promise<void> {
  await ctx.addInitScript((json) => {
    let current: PushSubscription | null = null;
    const make = (key: ArrayBuffer | null) =>
      ({
        endpoint: json.endpoint,
        expirationTime: null,
        options: { applicationServerKey: key, userVisibleOnly: true },
        toJSON: () => ({ endpoint: json.endpoint, expirationTime: null, keys: json.keys }),
        getKey: () => null,
        unsubscribe: async () => {
          current = null;
          return true;
        },
      }) as unknown as PushSubscription;
    PushManager.prototype.subscribe = async function (opts?: PushSubscriptionOptionsInit) {
      const k = opts?.applicationServerKey;
      const bytes = k instanceof ArrayBuffer ? k : ArrayBuffer.isView(k) ? (k.buffer.slice(k.byteOffset, k.byteOffset + k.byteLength) as ArrayBuffer) : null;
      (window as unknown as { __pushKey: number[] }).__pushKey = bytes ? [...new Uint8Array(bytes)] : [];
      current = make(bytes);
      return current;
    };
    PushManager.prototype.getSubscription = async function () {
      return current;
    };
  }, sub);
}

/**
 * Pushes to `page`'s service worker as a push service would (CDP
 * ServiceWorker.deliverPushMessage): waits for the registration of `base`/ (asserted to exist),
 * and returns `deliver(payload)` and `detach()` (ends the CDP session).
 */
export async function pushes(ctx: BrowserContext, page: Page, base: string): Promise<{ deliver: (payload: unknown) => Promise<unknown>; detach: () => Promise<void> }> {
  const cdp = await ctx.newCDPSession(page);
  const registrations: Array<{ registrationId: string; scopeURL: string }> = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", (e) => registrations.push(...e.registrations));
  await cdp.send("ServiceWorker.enable");
  for (let i = 0; i < 50 && !registrations.some((r) => r.scopeURL === `${base}/`); i++) await page.waitForTimeout(100);
  const reg = registrations.find((r) => r.scopeURL === `${base}/`)!;
  expect(reg).toBeDefined();
  return {
    deliver: (payload) => cdp.send("ServiceWorker.deliverPushMessage", { origin: base, registrationId: reg.registrationId, data: JSON.stringify(payload) }),
    detach: () => cdp.detach(),
  };
}

/** A key this browser keeps for sealed transfers, as a test can see it (never the private key itself). */
export interface StoredKey {
  recipient: string;
  nonExtractable: boolean;
  /** the WebCrypto key's `extractable`, or null where the identity is kept as a string */
  extractable: boolean | null;
  /** replaced by a newer key (kept to open what was sealed to it) */
  retired: boolean;
}

/** The keys `page`'s browser keeps for sealed transfers (IndexedDB "pushdrop-keys", web/shared/keystore.ts). */
export function storedKeys(page: Page): Promise<StoredKey[]> {
  return page.evaluate(
    () =>
      new Promise<StoredKey[]>((resolve, reject) => {
        const req = indexedDB.open("pushdrop-keys", 1);
        req.onupgradeneeded = () => req.result.createObjectStore("identities", { keyPath: "recipient" });
        req.onerror = () => reject(req.error);
        req.onsuccess = () => {
          const all = req.result.transaction("identities").objectStore("identities").getAll();
          all.onerror = () => reject(all.error);
          all.onsuccess = () => {
            req.result.close();
            resolve(
              (all.result as Array<{ recipient: string; nonExtractable: boolean; identity: CryptoKey | string; retiredAt?: number }>).map((k) => ({
                recipient: k.recipient,
                nonExtractable: k.nonExtractable,
                extractable: typeof k.identity === "string" ? null : k.identity.extractable,
                retired: k.retiredAt !== undefined,
              })),
            );
          };
        };
      }),
  );
}

/**
 * The Send form's *Sealed* switch off in every page of `ctx` as it loads (issue 23: sealed is the
 * default between devices that have keys): for the tests of plain transfers, whose checks read
 * the names, bytes and message the server holds. test/browser/sealed-send.test.ts tests sealing.
 */
export async function plainSends(ctx: BrowserContext): Promise<void> {
  await ctx.addInitScript(() => {
    document.addEventListener("DOMContentLoaded", () => {
      const box = document.getElementById("sealed") as HTMLInputElement | null;
      if (box?.checked) {
        box.checked = false;
        box.dispatchEvent(new Event("change"));
      }
    });
  });
}
