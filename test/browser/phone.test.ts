import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, BrowserContext, Page, Request, Route } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { formatTerminalId } from "../../src/contract/ids";
import { removeState, startServer, type Server } from "../node/support/server.ts";
import { checkPages, checkState, desktop, hasChromium, idOf, launch, open, phone, random, screenshot, sha256, tab, plainSends, watch } from "./support.ts";

/**
 * Issue 22, each numbered failure as it was seen, on a 360×740 phone (P) beside a 1280×800
 * desktop (D): what arrives is in sight and counted, and "opened" is never claimed before it
 * is true (1); Send stays one tap away however long the inbox (2); one photo arrives as itself
 * (3); a send without a connection waits and goes by itself, and a closed page says what was
 * lost (4); progress counts what the server answered for, and the same files after a reload
 * resume the unfinished transfer (5); long names stay readable (6); device names, the iPhone
 * note, expiry and download limit, the receiver's downloaded card (7). After every test every
 * open page is checked (CSP, page errors, sideways scroll, axe).
 */

let server: Server;
let browser: Browser;
let dir: string;
let phoneCtx: BrowserContext;
let deskCtx: BrowserContext;
const extra: BrowserContext[] = [];
let P: Page;
let D: Page;
let pId: string;
let dToken: string;

beforeAll(async () => {
  if (!hasChromium()) throw new Error("Chromium is missing: apt-get install chromium (.ci/run does it)");
  dir = mkdtempSync(path.join(tmpdir(), "pushdrop-phone-"));
  server = await startServer();
  browser = await launch();
  phoneCtx = await phone(browser, server.base);
  deskCtx = await desktop(browser, server.base);
  for (const ctx of [phoneCtx, deskCtx]) await watch(ctx);
  // these tests check plain transfers (what the server holds); sealed-send.test.ts checks sealed ones
  for (const ctx of [phoneCtx, deskCtx]) await plainSends(ctx);
});

afterEach(async (t) => {
  await checkPages([phoneCtx, deskCtx, ...extra], t.task.name);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  if (server) removeState(server.state);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const tokenOf = (page: Page) => page.evaluate(() => JSON.parse(localStorage.getItem("pushdrop.device")!).token as string);
const asD = (p: string, init: RequestInit = {}) => fetch(`${server.base}${p}`, { ...init, headers: { ...init.headers, authorization: `Bearer ${dToken}`, "content-type": "application/json" } });
const sentCard = (text: string) => D.locator("#outbox > li").filter({ hasText: text });
const dialogsAccepted = (page: Page) => page.on("dialog", (d) => void d.accept());

describe("issue 22: the web app on a phone", () => {
  it("(1) a text arriving while the phone shows This device: a toast, a count on Received and in the title; opened only once shown; the sender sees Delivered, never 'seen'", async () => {
    P = await open(phoneCtx);
    pId = await idOf(P);
    D = await open(deskCtx, `/?to=${pId}`);
    dToken = await tokenOf(D);
    dialogsAccepted(D);
    expect(await P.getByRole("link", { name: "This device", exact: true }).getAttribute("aria-current")).toBe("page");
    const opened: string[] = [];
    P.on("request", (r) => void (r.method() === "POST" && /\/opened$/.test(r.url()) && opened.push(r.url())));
    // the person is on the Copy link button when it arrives: focus must stay there
    await P.getByRole("button", { name: "Copy link" }).focus();
    await P.evaluate(() => ((document.activeElement as HTMLElement & { mark?: string }).mark = "here"));

    await D.getByLabel("Message").fill("Are you there?");
    await D.getByRole("button", { name: "Send", exact: true }).click();

    const toast = P.locator("#toast");
    await toast.getByText("Linux computer sent you a message").waitFor({ timeout: 30_000 });
    expect(await P.locator("#unread").textContent()).toBe("1");
    expect(await P.title()).toBe("(1) pushdrop");
    // the tab keeps its name; the count is said apart
    expect(await P.getByRole("link", { name: "Received", exact: true }).getAttribute("aria-describedby")).toBe("unread-text");
    expect(await P.locator("#unread-text").textContent()).toBe("1 new");
    expect(await P.evaluate(() => (document.activeElement as HTMLElement & { mark?: string }).mark)).toBe("here");
    await checkState(P, "a toast over This device");
    await screenshot(P, "phone-6-arrival");

    // the sender: acknowledged by the device is Delivered; nothing says it was seen or opened
    const status = sentCard("Are you there?").locator(".status");
    await expect.poll(() => status.textContent(), { timeout: 30_000 }).toBe("Delivered to Pixel 8. Not opened yet.");
    expect(await sentCard("Are you there?").locator(".steps li.done").allTextContents()).toEqual(["Sent", "Notified", "Delivered"]);
    expect(opened).toEqual([]);

    // Show: the Received screen, on that card (focused); now it counts as opened
    const openedPost = P.waitForRequest((r) => r.method() === "POST" && /\/opened$/.test(r.url()));
    await toast.getByRole("button", { name: "Show" }).click();
    await openedPost;
    expect(await P.getByRole("link", { name: "Received", exact: true }).getAttribute("aria-current")).toBe("page");
    const card = P.locator("#inbox > li").filter({ hasText: "Are you there?" });
    expect(await card.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await P.locator("#unread").isHidden()).toBe(true);
    expect(await P.title()).toBe("pushdrop");
    expect(await toast.isHidden()).toBe(true);
    expect(opened).toHaveLength(1);
  });

  it("(2) with a dozen items received, Send is one tap away at the bottom, and the form is at the top", async () => {
    for (let i = 1; i <= 11; i++) {
      const res = await asD("/v1/transfers", { method: "POST", body: JSON.stringify({ to: [pId], files: [], message: `Note ${i} of 11` }) });
      expect(res.status).toBe(201);
    }
    await P.locator("#inbox > li").filter({ hasText: "Note 11 of 11" }).waitFor({ timeout: 30_000 });
    expect(await P.locator("#inbox > li").count()).toBe(12);
    await P.evaluate(() => window.scrollTo(0, document.documentElement.scrollHeight));
    const send = P.getByRole("navigation").getByRole("link", { name: "Send", exact: true });
    const box = (await send.boundingBox())!;
    expect(box.y).toBeGreaterThan(600);
    expect(box.y + box.height).toBeLessThanOrEqual(740);
    await send.click();
    const recipient = (await P.getByLabel("Recipient").boundingBox())!;
    expect(recipient.y).toBeGreaterThanOrEqual(0);
    expect(recipient.y + recipient.height).toBeLessThan(400);
    await checkState(P, "the phone's Send screen");
    // by keyboard too: Enter on a tab shows its screen and puts focus on its heading
    await P.getByRole("navigation").getByRole("link", { name: "Received", exact: true }).focus();
    await P.keyboard.press("Enter");
    await P.waitForFunction(() => document.activeElement?.id === "inbox-h");
    expect(await P.getByLabel("Recipient").isVisible()).toBe(false);
    await P.getByRole("navigation").getByRole("link", { name: "This device", exact: true }).focus();
    await P.keyboard.press("Enter");
    await P.waitForFunction(() => document.activeElement?.id === "me-h");
    await tab(P, "Received");
    await checkState(P, "a dozen items received");
  });

  it("(3)(6) one photo arrives as itself: Download saves IMG_….jpg (not a ZIP); its long name is cut in the middle, whole in title and for screen readers", async () => {
    const name = "IMG_2024_07_14_holiday_beach_sunset_0314.jpg";
    const photo = random(250_000);
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Files").setInputFiles([{ name, mimeType: "image/jpeg", buffer: Buffer.from(photo) }]);
    await D.getByRole("button", { name: "Send", exact: true }).click();
    const card = P.locator("#inbox > li").filter({ hasText: "250 kB" });
    await card.waitFor({ timeout: 30_000 });
    const shown = card.locator(".fname");
    expect(await shown.getAttribute("title")).toBe(name);
    const visible = await shown.locator("[aria-hidden=true]").textContent();
    expect(visible).toMatch(/^IMG_2024_07_1.*….*_0314\.jpg$/);
    expect(visible!.length).toBeLessThan(name.length);
    expect(await shown.locator(".sr").textContent()).toBe(name);
    await screenshot(P, "phone-2-received");
    const download = card.getByRole("link", { name: "Download", exact: true });
    expect(await download.getAttribute("href")).toMatch(/\/files\/0\?/);
    const [dl] = await Promise.all([P.waitForEvent("download"), download.click()]);
    expect(dl.suggestedFilename()).toBe(name);
    const file = path.join(dir, "photo.jpg");
    await dl.saveAs(file);
    expect(sha256(readFileSync(file))).toBe(sha256(photo));
  });

  it("(4) a send without a connection waits, says so (with Cancel) and goes by itself when the server answers; a closed page says what was lost", async () => {
    const creates = /\/v1\/transfers$/;
    const offline = (route: Route) => (route.request().method() === "POST" ? route.abort("internetdisconnected") : route.continue());
    await D.route(creates, offline);
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Message").fill("Sent while the server was away");
    await D.getByRole("button", { name: "Send", exact: true }).click();
    const waiting = sentCard("Sent while the server was away");
    await waiting.getByText("Waiting for the connection: this goes by itself when pushdrop answers again.").waitFor();
    expect(await waiting.getByRole("button", { name: "Cancel" }).isVisible()).toBe(true);
    await checkState(D, "a send waiting for the connection");
    await D.waitForTimeout(2500); // (it tries again, and fails again, meanwhile)
    await D.unroute(creates, offline);
    // nobody presses anything: it goes
    await P.locator("#inbox > li").filter({ hasText: "Sent while the server was away" }).waitFor({ timeout: 30_000 });
    await expect.poll(() => waiting.locator(".status").textContent(), { timeout: 30_000 }).toMatch(/notified|Delivered|opened it/);

    // Cancel: it never goes, not even once the connection is back
    const tries: number[] = []; // when the page tried to create the cancelled one
    const counting = (r: Request) => void (r.method() === "POST" && creates.test(r.url()) && r.postData()?.includes("Never mind this one") && tries.push(Date.now()));
    D.on("request", counting);
    await D.route(creates, offline);
    await D.getByLabel("Message").fill("Never mind this one");
    await D.getByRole("button", { name: "Send", exact: true }).click();
    const never = sentCard("Never mind this one");
    await never.getByText(/Waiting for the connection/).waitFor();
    // the send, then its first try again (2 s later) have failed: the next is due 4 s after that
    await expect.poll(() => tries.length, { timeout: 30_000 }).toBe(2);
    await never.getByRole("button", { name: "Cancel" }).click();
    expect(await never.count()).toBe(0);
    // the connection comes back: a timer the Cancel left running would now send it
    await D.unroute(creates, offline);
    await D.getByLabel("Message").fill("After the cancel");
    await D.getByRole("button", { name: "Send", exact: true }).click();
    await P.locator("#inbox > li").filter({ hasText: "After the cancel" }).waitFor({ timeout: 30_000 });
    // past the time its next try was due (4 s after the last, with a margin), it was never tried again
    await D.waitForTimeout(Math.max(0, tries.at(-1)! + 4000 + 2000 - Date.now()));
    D.off("request", counting);
    expect(tries).toHaveLength(2);
    const afterCancel = await (await fetch(`${server.base}/v1/terminals/${pId}/inbox`, { headers: { authorization: `Bearer ${await tokenOf(P)}` } })).json();
    expect(afterCancel.transfers.map((t: { message: string | null }) => t.message)).toContain("After the cancel");
    expect(afterCancel.transfers.map((t: { message: string | null }) => t.message)).not.toContain("Never mind this one");

    // an answer lost on its way back: the server made the transfer but the page never heard; its
    // try again carries the same Idempotency-Key and gets that transfer, never a second one
    let reached = 0;
    const lostAnswer = async (route: Route) => {
      if (route.request().method() !== "POST") return route.continue();
      if (reached++ > 0) return route.continue();
      await route.fetch(); // (the server answers 201; the page gets a dropped connection instead)
      return route.abort("connectionreset");
    };
    await D.route(creates, lostAnswer);
    await D.getByLabel("Message").fill("Made only once");
    await D.getByRole("button", { name: "Send", exact: true }).click();
    await expect.poll(() => sentCard("Made only once").locator(".status").textContent(), { timeout: 30_000 }).toMatch(/notified|Delivered|opened it/);
    await D.unroute(creates, lostAnswer);
    expect(reached).toBe(2);
    const once = await (await fetch(`${server.base}/v1/terminals/${pId}/inbox`, { headers: { authorization: `Bearer ${await tokenOf(P)}` } })).json();
    expect(once.transfers.filter((t: { message: string | null }) => t.message === "Made only once")).toHaveLength(1);

    // a page closed while a send waits: after the reload it says what was lost
    await D.route(creates, offline);
    await D.getByLabel("Message").fill("Lost with the page");
    await D.getByLabel("Files").setInputFiles([{ name: "report.pdf", mimeType: "application/pdf", buffer: Buffer.from("pdf") }]);
    await D.getByRole("button", { name: "Send", exact: true }).click();
    await sentCard("Lost with the page").getByText(/Waiting for the connection/).waitFor();
    await D.reload(); // (still without a connection for creating: it cannot have gone before the page closed)
    await D.locator("html[data-ready=true]").waitFor();
    await D.unroute(creates, offline);
    const lost = sentCard("Lost with the page");
    await lost.getByText("Not sent: the page was closed before the connection came back. Choose the files again to send them.").waitFor();
    expect(await lost.textContent()).toContain("report.pdf");
    await checkState(D, "a send lost with the page");
    await D.waitForTimeout(1000);
    const inbox = await (await fetch(`${server.base}/v1/terminals/${pId}/inbox`, { headers: { authorization: `Bearer ${await tokenOf(P)}` } })).json();
    const texts = inbox.transfers.map((t: { message: string | null }) => t.message);
    expect(texts).not.toContain("Never mind this one");
    expect(texts).not.toContain("Lost with the page");
    await lost.getByRole("button", { name: "Remove from this list" }).click();
    expect(await lost.count()).toBe(0);
  });

  it("(5) the bar shows bytes the server answered for, not bytes in flight", async () => {
    const big = random(40 * 1024 * 1024); // three parts of 16 MiB, all in flight at once
    const held: Route[] = [];
    const parts = /\/v1\/transfers\/[^/]+\/files\/0\?part=\d$/;
    await D.route(parts, (route) => void held.push(route));
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Files").setInputFiles([{ name: "held.bin", mimeType: "application/octet-stream", buffer: Buffer.from(big) }]);
    await D.getByRole("button", { name: "Send", exact: true }).click();
    await expect.poll(() => held.length, { timeout: 30_000 }).toBe(3);
    const meter = sentCard("41.9 MB").getByRole("progressbar", { name: "All files" });
    await meter.waitFor();
    await D.waitForTimeout(500);
    expect(await meter.getAttribute("aria-valuenow")).toBe("0");
    expect(await sentCard("41.9 MB").locator(".stats").textContent()).toMatch(/^0 byte of 41\.9 MB on the server/);
    await checkState(D, "an upload in flight");
    // one part answered: exactly its bytes count
    const first = held.find((r) => r.request().url().endsWith("part=1"))!;
    await first.continue();
    await expect.poll(() => meter.getAttribute("aria-valuenow"), { timeout: 30_000 }).toBe(String(16 * 1024 * 1024));
    for (const r of held) if (r !== first) await r.continue();
    await D.unroute(parts);
    await sentCard("41.9 MB").getByText(/was notified|opened it/).waitFor({ timeout: 60_000 });
  });

  it("(5) after a reload, choosing the same files for the same recipient resumes the unfinished transfer: no second transfer, no part sent twice, no stale card", async () => {
    const file = path.join(dir, "holiday.mov");
    writeFileSync(file, random(20 * 1024 * 1024 + 7)); // two parts
    const parts = /\/v1\/transfers\/[^/]+\/files\/0\?part=\d$/;
    const puts: string[] = [];
    await D.route(parts, (route) => {
      const part = new URL(route.request().url()).searchParams.get("part")!;
      puts.push(part);
      return part === "2" ? route.abort("connectionreset") : route.continue();
    });
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Files").setInputFiles(file);
    await D.getByRole("button", { name: "Send", exact: true }).click();
    await D.locator("#outbox > li").first().getByText("The connection dropped. Resuming where it stopped…").waitFor({ timeout: 30_000 });
    expect(puts.filter((p) => p === "1")).toHaveLength(1);
    await D.unroute(parts);
    await D.reload();
    await D.locator("html[data-ready=true]").waitFor();
    const stale = D.locator("#outbox > li").filter({ hasText: "The upload was interrupted when the page closed." });
    await stale.waitFor({ timeout: 30_000 });
    const staleId = await stale.getAttribute("id");

    const creates: string[] = [];
    const again: string[] = [];
    D.on("request", (r) => {
      if (r.method() === "POST" && /\/v1\/transfers$/.test(r.url())) creates.push(r.url());
      if (r.method() === "PUT" && /\/files\/0\?part=/.test(r.url())) again.push(new URL(r.url()).searchParams.get("part")!);
    });
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Files").setInputFiles(file);
    await D.getByRole("button", { name: "Send", exact: true }).click();
    const card = D.locator(`#${staleId}`);
    await card.getByText(/was notified|opened it/).waitFor({ timeout: 60_000 });
    expect(creates).toEqual([]);
    expect(again).toEqual(["2"]);
    expect(await D.locator("#outbox > li").filter({ hasText: "The upload was interrupted" }).count()).toBe(0);
    expect(await D.locator(`#outbox > li[id="${staleId}"]`).count()).toBe(1);
  });

  it("(6) twenty photos chosen on the phone are twenty readable rows: cut in the middle, broken only after _ - . or a space", async () => {
    await tab(P, "Send");
    const names = Array.from({ length: 20 }, (_, i) => `IMG_2024_07_14_holiday_beach_sunset_${String(301 + i).padStart(4, "0")}.jpg`);
    await P.getByLabel("Files").setInputFiles(names.map((name) => ({ name, mimeType: "image/jpeg", buffer: Buffer.from(name) })));
    const rows = P.getByRole("list", { name: "Chosen for sending" }).locator(".fname");
    expect(await rows.count()).toBe(20);
    const visible = await rows.evaluateAll((els) => els.map((el) => (el.querySelector("[aria-hidden=true]") ?? el).textContent));
    expect(new Set(visible).size).toBe(20);
    for (const [i, v] of visible.entries()) expect(v!.endsWith(names[i]!.slice(-9))).toBe(true);
    expect(await rows.evaluateAll((els) => els.map((el) => el.getAttribute("title")))).toEqual(names);
    // every piece between separators sits on one line (a word broken in two would have two boxes)
    const broken = await rows.evaluateAll((els) =>
      els.flatMap((el) =>
        [...(el.querySelector("[aria-hidden=true]") ?? el).childNodes]
          .filter((n) => n.nodeType === Node.TEXT_NODE)
          .filter((n) => {
            const r = document.createRange();
            r.selectNodeContents(n);
            return new Set([...r.getClientRects()].map((b) => Math.round(b.top))).size > 1;
          })
          .map((n) => n.textContent),
      ),
    );
    expect(broken).toEqual([]);
    await checkState(P, "twenty files chosen on the phone");
    await screenshot(P, "phone-7-send");

    // sent to the desktop: the phone's Sent card fits; the desktop lists twenty links, each by its whole name
    await P.getByLabel("Recipient").fill(await idOf(D));
    await P.getByRole("button", { name: "Send", exact: true }).click();
    const sent = P.locator("#outbox > li").filter({ hasText: "20 files" });
    await sent.getByText(/was notified|opened it/).waitFor({ timeout: 60_000 });
    await checkState(P, "the phone's Sent card");
    await screenshot(P, "phone-8-sent", sent);
    const card = D.locator("#inbox > li").filter({ hasText: "20 files" });
    await card.waitFor({ timeout: 30_000 });
    for (const name of [names[0]!, names[13]!, names[19]!]) await card.getByRole("link", { name, exact: true }).waitFor();
    expect(await card.locator(".files a").count()).toBe(20);
  });

  it("(7) the send form's expiry and download limit reach the server; the receiver's card then says downloaded, and the limit takes Save again away", async () => {
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Files").setInputFiles([
      { name: "a.txt", mimeType: "text/plain", buffer: Buffer.from("first") },
      { name: "b.txt", mimeType: "text/plain", buffer: Buffer.from("second") },
    ]);
    expect(await D.getByLabel("Keep for").inputValue()).toBe("86400");
    expect(await D.getByLabel("Keep for").locator("option:checked").textContent()).toBe("1 day (default)");
    await D.getByLabel("Keep for").selectOption({ label: "1 hour" });
    await D.getByLabel("Downloads").selectOption({ label: "1" });
    const created = D.waitForResponse((r) => r.request().method() === "POST" && /\/v1\/transfers$/.test(r.url()));
    await D.getByRole("button", { name: "Send", exact: true }).click();
    const t = await (await created).json();
    expect(t.maxDownloads).toBe(1);
    expect(Math.round((Date.parse(t.expiresAt) - Date.parse(t.createdAt)) / 1000)).toBe(3600);
    const card = P.locator(`#t-${t.id}`);
    await tab(P, "Received");
    await card.waitFor({ timeout: 30_000 });
    // the sender's keyboard is on Cancel when the receipt comes: its card is redrawn, focus stays in it
    const mine = D.locator(`#o-${t.id}`);
    await mine.getByRole("button", { name: "Cancel" }).focus();
    expect(await card.textContent()).toMatch(/Expires in (60 minutes|1 hour)/);
    const [dl] = await Promise.all([P.waitForEvent("download"), card.getByRole("link", { name: "Download", exact: true }).click()]);
    expect(dl.suggestedFilename()).toMatch(/\.zip$/);
    await card.getByText("Downloaded. The sender's download limit is reached.").waitFor({ timeout: 30_000 });
    expect(await card.getByRole("link").count()).toBe(0);
    await mine.getByText("Pixel 8 downloaded it.").waitFor({ timeout: 30_000 });
    expect(await mine.getByRole("button", { name: "Cancel" }).count()).toBe(0);
    expect(await mine.evaluate((el) => el.contains(document.activeElement))).toBe(true);
  });

  it("(7) the sender cancels before it is downloaded: the receiver's card says so and loses its links", async () => {
    await D.getByLabel("Recipient").fill(pId);
    await D.getByLabel("Files").setInputFiles([{ name: "draft.txt", mimeType: "text/plain", buffer: Buffer.from("draft") }]);
    await D.getByRole("button", { name: "Send", exact: true }).click();
    const card = P.locator("#inbox > li").filter({ hasText: "draft.txt" });
    await card.waitFor({ timeout: 30_000 });
    const item = D.locator("#outbox > li").filter({ hasText: "1 file · 5 B" }).first();
    await item.getByText(/was notified|opened it/).waitFor({ timeout: 30_000 });
    await item.getByRole("button", { name: "Cancel" }).click();
    await item.getByText("Cancelled.").waitFor();
    await card.getByText("The sender cancelled this.").waitFor({ timeout: 30_000 });
    expect(await card.getByRole("link").count()).toBe(0);
  });

  it("(7) names: a second Android phone whose browser remembers an 'Android phone' proposes 'Android phone 2'; the iPhone note shows on an iPhone only", async () => {
    const android = await browser.newContext({
      baseURL: server.base,
      viewport: { width: 360, height: 740 },
      isMobile: true,
      hasTouch: true,
      userAgent: "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
    });
    extra.push(android);
    await watch(android);
    await android.addInitScript(() => {
      if (location.protocol !== "http:") return; // (about:blank has no storage)
      if (!localStorage.getItem("pushdrop.contacts")) localStorage.setItem("pushdrop.contacts", JSON.stringify([{ id: "578418129", name: "Android phone", at: 1 }]));
    });
    const second = await open(android);
    expect(await second.locator("#my-name").textContent()).toBe("Android phone 2");
    expect((await (await fetch(`${server.base}/v1/terminals/${await idOf(second)}`)).json()).name).toBe("Android phone 2");
    expect(await second.locator("#ios-note").isHidden()).toBe(true);

    const iphone = await browser.newContext({
      baseURL: server.base,
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
    });
    extra.push(iphone);
    await watch(iphone);
    const ios = await open(iphone);
    expect(await ios.locator("#my-name").textContent()).toBe("iPhone");
    expect(await ios.locator("#ios-note").isVisible()).toBe(true);
    expect(formatTerminalId(await idOf(ios))).toMatch(/^\d{3} \d{3} \d{3}$/);
  });
});
