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
import { kit } from "./kit";

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


export const isAppleMobile = () => /iPhone|iPad|iPod/.test(navigator.userAgent) || (/Macintosh/.test(navigator.userAgent) && navigator.maxTouchPoints > 1);

export async function ensureDevice(): Promise<store.Device | null> {
  const kept = store.loadDevice();
  if (kept) return kept;
  if (params.has("forgotten")) return null;
  // (what the device is called: a lazy chunk, needed on a first visit only)
  const name = await (await import("./device-name")).firstName(kit);
  const created = await app.client.register(name);
  const d: store.Device = { id: created.id, token: created.token, name: created.name };
  store.saveDevice(d);
  return { ...d, fresh: true };
}

/** The key the share link carries (`#k=`), once the server is seen to publish it (seal/device-panel.ts). */
export const linkKey = { key: "" };
export const shareUrl = (id: string) => `${location.origin}/?to=${id}${linkKey.key && `#k=${linkKey.key}`}`;

/** The share link and its QR code, drawn again when the link changed (it gains the key: seal/device-panel.ts). */
function drawShareLink(id: string): void {
  const url = shareUrl(id);
  const link = $<HTMLAnchorElement>("share-link");
  if (link.href === url) return;
  link.href = url;
  link.textContent = url.replace(/^https?:\/\//, "");
  // the QR encoder is a chunk of its own, loaded when the code is drawn: the app shell stays small
  void import("./qr").then(({ qrSvg }) => {
    if (link.href === url) fill($("qr"), qrSvg(url, WORDS.qrLabel(id)));
  });
}

export function showDevice(d: store.Device): void {
  $("my-name").textContent = d.name;
  fill($("my-id"), h("bdi", { dir: "ltr" }, formatTerminalIdAscii(d.id)));
  drawShareLink(d.id);
  void import("./seal/device-panel").then((m) => m.showKey(kit, d, { linkKey, drawShareLink }));
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

  $("forget").addEventListener("click", () => void import("./forget").then((m) => m.forget(kit)));
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

