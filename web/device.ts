import { ApiError } from "../client";
import { fromBase64url } from "../src/contract/ids";
import { idText } from "./format";
import { bidi } from "./format";
import { formatTerminalIdAscii } from "./i18n/format";
import { t } from "./i18n/runtime";
import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { copy } from "./received-list";
import type { ServerSettings } from "./settings";
import { app, params } from "./state";
import * as store from "./store";

/**
 * The This device screen: the id (large, as a QR code and as a link), the device's name (a
 * distinct one proposed on the first visit, renaming one tap away), notifications, who may
 * send, and forgetting the device.
 */
const WORDS = {
  renamed: (name: string) => t("me.renamed", { name: bidi(name) }),
  get keptHere() { return t("me.renameKeptHere"); },
  notTaken: (why: string) => t("me.renameNotTaken", { error: why }),
  firstName: (name: string) => t("me.firstName", { name: bidi(name) }),
  get shareTitle() { return t("me.shareTitle"); },
  qrLabel: (id: string) => t("me.qrLabel", { id: idText(id) }),
  forgetFailed: (why: string) => t("me.forgetFailed", { error: why }),
  get notifyOn() { return t("notify.on"); },
  get turnOff() { return t("notify.disable"); },
  get enable() { return t("notify.enable"); },
  get cannotNotify() { return t("notify.unsupported"); },
  get blockedHere() { return t("notify.blocked"); },
  get turningOn() { return t("notify.turningOn"); },
  get noPushService() { return t("notify.failed"); },
  get off() { return t("notify.off"); },
  get blockedInSettings() { return t("notify.blockedSettings"); },
};


/** What kind of device this is, by the browser's word: a model where it says one ("Pixel 8"). */
async function deviceKind(): Promise<string> {
  const ua = navigator.userAgent;
  const data = (navigator as Navigator & { userAgentData?: { getHighEntropyValues(h: string[]): Promise<{ model?: string }> } }).userAgentData;
  let model = "";
  try {
    model = (await data?.getHighEntropyValues(["model"]))?.model ?? "";
  } catch {
    // not said
  }
  // (Chrome reduces the user agent string to "Android 10; K": a one-letter model says nothing)
  model ||= /Android [\d.]+; (?:[a-z]{2}[-_][a-z]{2}; )?([^;)]{2,40}?)(?: Build\/[^;)]*)?\)/i.exec(ua)?.[1]?.trim() ?? "";
  if (model && model.length > 1 && !/^(K|wv|Mobile|Linux)$/i.test(model)) return model;
  if (/iPhone/.test(ua)) return t("device.iphone");
  if (/iPad/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return t("device.ipad");
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? t("device.androidPhone") : t("device.androidTablet");
  if (/CrOS/.test(ua)) return t("device.chromebook");
  if (/Mac OS X/.test(ua)) return t("device.mac");
  if (/Windows/.test(ua)) return t("device.windows");
  if (/Linux/.test(ua)) return t("device.linux");
  return t("device.browser");
}

/** A name none of the devices this browser remembers has: "Android phone 2" beside an "Android phone". */
export function distinctName(kind: string, taken: readonly string[]): string {
  const names = new Set(taken.map((n) => n.trim().toLowerCase()));
  if (!names.has(kind.toLowerCase())) return kind;
  for (let n = 2; ; n++) if (!names.has(`${kind} ${n}`.toLowerCase())) return `${kind} ${n}`;
}

export const isAppleMobile = () => /iPhone|iPad|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);

export async function ensureDevice(): Promise<store.Device | null> {
  const kept = store.loadDevice();
  if (kept) return kept;
  if (params.has("forgotten")) return null;
  const name = distinctName(await deviceKind(), store.loadContacts().map((c) => c.name));
  const created = await app.client.register(name);
  const d: store.Device = { id: created.id, token: created.token, name: created.name };
  store.saveDevice(d);
  return { ...d, fresh: true };
}

export function shareUrl(id: string): string {
  return `${location.origin}/?to=${id}`;
}

export function showDevice(d: store.Device): void {
  $("my-name").textContent = d.name;
  fill($("my-id"), h("bdi", { dir: "ltr" }, formatTerminalIdAscii(d.id)));
  const link = $<HTMLAnchorElement>("share-link");
  link.href = shareUrl(d.id);
  link.textContent = shareUrl(d.id).replace(/^https?:\/\//, "");
  // the QR encoder is a chunk of its own, loaded when the code is drawn: the app shell stays small
  const url = shareUrl(d.id);
  void import("./qr").then(({ qrSvg }) => {
    if ($<HTMLAnchorElement>("share-link").href === url) fill($("qr"), qrSvg(url, WORDS.qrLabel(d.id)));
  });
  show($("share-btn"), typeof navigator.share === "function");
  show($("ios-note"), isAppleMobile());
  const note = $("name-note");
  note.textContent = d.fresh ? WORDS.firstName(d.name) : "";
  show(note, Boolean(d.fresh));
}

export function showDeviceError(message: string, action?: { label: string; run: () => void }): void {
  const box = $("me-error");
  fill(box, h("p", null, message), action ? h("button", { type: "button", onclick: action.run }, action.label) : null);
  show(box, true);
}

/** Renaming takes the v1.1 settings endpoint; until a server has it, the name is kept here. */
export async function pushName(): Promise<void> {
  const device = app.device;
  const settings = app.settings;
  if (!device?.pendingName || !settings) return;
  const note = $("rename-note");
  try {
    const taken = await settings.rename(device.pendingName);
    if (taken) {
      app.device = { ...device, pendingName: undefined };
      store.saveDevice(app.device);
      show(note, false);
      return;
    }
    note.textContent = WORDS.keptHere;
  } catch (e) {
    note.textContent = WORDS.notTaken(plainError(e));
  }
  show(note, true);
}

/** What a v1.1 server keeps: its name for this device (unless one chosen here waits), its contacts. */
export function takeServerName(s: ServerSettings): void {
  const device = app.device;
  if (device && !device.pendingName && s.name && s.name !== device.name) {
    app.device = { ...device, name: s.name };
    store.saveDevice(app.device);
    $("my-name").textContent = s.name;
  }
}

export function wireDevice(): void {
  const form = $<HTMLFormElement>("rename-form");
  const input = $<HTMLInputElement>("name-input");
  $("rename").addEventListener("click", () => {
    input.value = app.device?.name ?? "";
    show(form, true);
    show($("rename-note"), false);
    input.focus();
    input.select();
  });
  $("rename-cancel").addEventListener("click", () => show(form, false));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = input.value.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").trim().slice(0, 64);
    if (!app.device || !name) return;
    app.device = { ...app.device, name, pendingName: name, fresh: false };
    store.saveDevice(app.device);
    $("my-name").textContent = name;
    show(form, false);
    show($("name-note"), false);
    announce(WORDS.renamed(name));
    void pushName();
  });

  $("copy-link").addEventListener("click", (e) => app.device && void copy(shareUrl(app.device.id), e.currentTarget as HTMLButtonElement));
  $("share-btn").addEventListener("click", () => {
    if (app.device) void navigator.share({ title: WORDS.shareTitle, url: shareUrl(app.device.id) }).catch(() => {});
  });
  $("notify").addEventListener("click", () => void ($("notify").dataset.on === "true" ? disableNotifications() : enableNotifications()));

  $("forget").addEventListener("click", () => void forget());
  $("start-again").addEventListener("click", () => location.replace("/"));

  let installEvent: (Event & { prompt?: () => Promise<void> }) | null = null;
  window.addEventListener("beforeinstallprompt", (e) => {
    e.preventDefault();
    installEvent = e;
    show($("install"), true);
  });
  $("install").addEventListener("click", () => {
    void installEvent?.prompt?.();
    installEvent = null;
    show($("install"), false);
  });
  window.addEventListener("appinstalled", () => show($("install"), false));
}

async function forget(): Promise<void> {
  const device = app.device;
  if (!device) return;
  const button = $<HTMLButtonElement>("forget");
  button.disabled = true;
  try {
    await app.client.deleteTerminal(device.id);
  } catch (e) {
    // a server without DELETE /v1/terminals/{id} (v1.1), or an id already gone: forget it here all the same
    const gone = e instanceof ApiError && [401, 403, 404, 405].includes(e.status);
    if (!gone) {
      button.disabled = false;
      showDeviceError(WORDS.forgetFailed(plainError(e)));
      return;
    }
  }
  app.channel?.close();
  try {
    const reg = await navigator.serviceWorker?.getRegistration();
    await (await reg?.pushManager?.getSubscription())?.unsubscribe();
  } catch {
    // no subscription to end
  }
  store.clearAll();
  location.replace("/?forgotten=1");
}


/**
 * The server's VAPID key, fetched when the page loads: Safari lets `pushManager.subscribe` run
 * only close to the tap that asked for it, so nothing slow may come between the two.
 */
let vapidKey: Promise<Uint8Array> | null = null;
const vapid = () =>
  (vapidKey ??= app.client.vapidPublicKey().then(fromBase64url, (e) => {
    vapidKey = null;
    throw e;
  }));

const pushSupported = () => "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

async function currentSubscription(): Promise<PushSubscription | null> {
  if (!pushSupported()) return null;
  const reg = await navigator.serviceWorker.getRegistration("/");
  return (await reg?.pushManager.getSubscription()) ?? null;
}

function showNotifyState(on: boolean, note = ""): void {
  const button = $<HTMLButtonElement>("notify");
  button.textContent = on ? WORDS.turnOff : WORDS.enable;
  button.dataset.on = String(on);
  $("notify-state").textContent = note || (on ? WORDS.notifyOn : "");
}

async function enableNotifications(): Promise<void> {
  const device = app.device;
  if (!device) return;
  if (!pushSupported()) {
    showNotifyState(false, WORDS.cannotNotify);
    return;
  }
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    showNotifyState(false, WORDS.blockedHere);
    return;
  }
  showNotifyState(false, WORDS.turningOn);
  try {
    const [reg, wanted] = await Promise.all([navigator.serviceWorker.ready, vapid()]);
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameKey(sub.options.applicationServerKey, wanted)) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: wanted as Uint8Array<ArrayBuffer> });
    await app.client.putPushSubscription(device.id, sub.toJSON() as Parameters<typeof app.client.putPushSubscription>[1]);
    showNotifyState(true);
    announce(WORDS.notifyOn);
  } catch (e) {
    showNotifyState(false, e instanceof ApiError ? plainError(e) : WORDS.noPushService);
  }
}

async function disableNotifications(): Promise<void> {
  const device = app.device;
  if (!device) return;
  try {
    const sub = await currentSubscription();
    if (sub) {
      await app.client.deletePushSubscription(device.id, sub.endpoint).catch(() => {});
      await sub.unsubscribe();
    }
    showNotifyState(false, WORDS.off);
  } catch (e) {
    showNotifyState(true, plainError(e));
  }
}

function sameKey(a: ArrayBuffer | null, b: Uint8Array): boolean {
  if (!a) return false;
  const x = new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/** On each load: a subscription this browser holds is registered again (cheap, and heals a server that lost it). */
export async function syncNotifications(): Promise<void> {
  const device = app.device;
  if (!device) return;
  if (pushSupported()) void vapid().catch(() => {});
  const sub = await currentSubscription().catch(() => null);
  if (sub && Notification.permission === "granted") {
    showNotifyState(true);
    await app.client.putPushSubscription(device.id, sub.toJSON() as Parameters<typeof app.client.putPushSubscription>[1]).catch(() => {});
  } else if (pushSupported() && Notification.permission === "denied") {
    showNotifyState(false, WORDS.blockedInSettings);
  }
}

