import { LiveChannel, type WebSocketFactory } from "../client";
import type { ServerMessage } from "../src/contract";
import { normalizeTerminalId } from "../src/contract/ids";
import { ensureDevice, pushName, showDevice, showDeviceError, syncNotifications, takeServerName, wireDevice } from "./device";
import { $, show } from "./dom";
import { plainError } from "./errors";
import { go, onScreen, screenOf, wireNav, type Screen } from "./nav";
import { arrived, ended, flushOpened, inbox, isEmpty, loadInbox, showTransfer, wireReceived } from "./received";
import { outbox, refreshContacts, setRecipient, takeShared, updateRecipientHint, wireSend } from "./send";
import { Settings, type ServerSettings } from "./settings";
import { app, params } from "./state";
import * as store from "./store";
import { startI18n } from "./i18n/choose";
import { t } from "./i18n/runtime";
import { translatePage } from "./i18n-page";
import { wireLanguagePicker } from "./language";

/**
 * pushdrop's web app, wired: three screens (received.ts, send.ts, device.ts; nav.ts switches
 * them), one live channel whose messages go to the screen they concern, and the start: an id
 * for this device, then the first screen (the inbox; This device on a first visit with nothing
 * in it; Send for a `/?to=` link; a transfer for `/?transfer=`). No framework: the markup is in
 * index.html, and each screen fills or updates its own elements.
 */

const WORDS = {
  get live() { return t("live.open"); },
  get offline() { return t("live.offline"); },
  reconnecting: (inSeconds: number | null) => (inSeconds ? t("live.reconnectingIn", { seconds: inSeconds }) : t("live.reconnecting")),
  get notConnected() { return t("live.closed"); },
  get invalid() { return t("me.idInvalid"); },
  get newId() { return t("me.newId"); },
  noId: (why: string) => t("me.registerFailed", { error: why }),
  get tryAgain() { return t("me.tryAgain"); },
};

function liveState(state: string, text: string): void {
  const el = $("live");
  el.dataset.state = state;
  el.textContent = text;
}

function connect(d: store.Device): void {
  app.channel = new LiveChannel(app.client, d.id, {
    WebSocket: WebSocket as unknown as WebSocketFactory,
    onMessage,
    onState: (state, detail) => {
      if (state === "open") {
        liveState("open", WORDS.live);
        outbox.refreshAll();
        outbox.wake();
        flushOpened();
      } else if (state === "reconnecting") {
        const wait = detail?.retryInMs && detail.retryInMs > 1500 ? Math.round(detail.retryInMs / 1000) : null;
        liveState("reconnecting", navigator.onLine === false ? WORDS.offline : WORDS.reconnecting(wait));
      } else if (state === "closed" && detail?.error) {
        liveState("closed", WORDS.notConnected);
        showDeviceError(WORDS.invalid, {
          label: WORDS.newId,
          run: () => {
            store.clearAll();
            location.replace("/");
          },
        });
      }
    },
  });
}

/** Every message is acknowledged once handled: an ack means "this device has it", nothing more. */
function onMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case "transfer.ready":
      arrived(msg);
      store.rememberContact({ id: msg.transfer.from.id, name: msg.transfer.from.name });
      refreshContacts();
      break;
    case "transfer.opened":
      outbox.opened(msg.transfer, msg.by);
      break;
    case "transfer.downloaded":
      outbox.receipt(msg.transferId, msg.by, msg.at);
      break;
    case "transfer.failed":
      outbox.failed(msg.transferId, msg.reason);
      break;
    case "transfer.expired":
    case "transfer.cancelled": {
      const kind = msg.type === "transfer.expired" ? "expired" : "cancelled";
      ended(msg.transferId, kind);
      outbox.ended(msg.transferId, kind);
      break;
    }
  }
  app.channel?.ack(msg.id);
}

function onVisible(): void {
  if (document.visibilityState !== "visible") return;
  app.channel?.reconnectNow();
  outbox.refreshAll();
  void loadInbox();
}

/** What a v1.1 server keeps: its name for this device (unless one chosen here waits), its contacts. */
function onSettings(s: ServerSettings): void {
  takeServerName(s);
  refreshContacts(store.mergeContacts(s.contacts));
  inbox.refresh();
}

async function boot(): Promise<void> {
  // the words first: every screen below speaks the visitor's language from its first paint
  await startI18n();
  translatePage();
  wireLanguagePicker();
  wireNav();
  wireDevice();
  wireSend();
  wireReceived();
  const asked = screenOf(location.hash);
  if (asked) go(asked);
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", (e) => {
      const data = e.data as { type?: string; transferId?: string };
      if (data?.type === "pushdrop.show") void showTransfer(data.transferId ?? "");
      if (data?.type === "pushdrop.push") {
        app.channel?.reconnectNow();
        outbox.refreshAll();
        void loadInbox();
      }
    });
  }

  const to = params.get("to");
  if (to) {
    const id = normalizeTerminalId(to);
    if (id) setRecipient(id);
    else {
      $<HTMLInputElement>("to").value = to;
      void updateRecipientHint();
    }
    go("send");
  }

  try {
    app.device = await ensureDevice();
  } catch (e) {
    liveState("closed", WORDS.notConnected);
    showDeviceError(WORDS.noId(plainError(e)), { label: WORDS.tryAgain, run: () => location.reload() });
    show($("me-body"), false);
    go("device");
    return;
  }
  const device = app.device;
  if (!device) {
    show($("me-body"), false);
    show($("forgotten"), true);
    for (const a of document.querySelectorAll<HTMLElement>(".tabs")) show(a, false);
    liveState("closed", WORDS.notConnected);
    go("device");
    document.documentElement.dataset.ready = "true";
    return;
  }
  app.client.token = device.token;
  const me = device.id;
  app.settings = new Settings(app.client, me, () => store.loadContacts().map((c) => c.id).filter((id) => id !== me), onSettings);
  // this device's key for sealed transfers: a lazy chunk (the age library only when one is made)
  app.deviceKey = import("./seal/device-key").then((m) => m.ensureDeviceKey(app.client, me));
  showDevice(device);
  refreshContacts();
  connect(device);
  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("online", () => app.channel?.reconnectNow());
  // closing the page mid-upload stops it (it can resume when the same files are chosen again): ask first
  window.addEventListener("beforeunload", (e) => {
    if (outbox.busy) e.preventDefault();
  });

  const shared = params.get("share");
  const focus = params.get("transfer");
  // (a forced language stays in the address: a reload keeps speaking it)
  const lang = params.get("lang");
  if (to || shared || focus || params.has("forgotten")) history.replaceState(null, "", `/${lang ? `?lang=${encodeURIComponent(lang)}` : ""}${location.hash}`);
  if (shared) void takeShared(shared);

  await Promise.all([loadInbox(), outbox.restore(), syncNotifications(), app.settings.load().then(pushName)]);
  // what is waiting for this device changes as things arrive: This device asks again when shown
  onScreen((s) => {
    if (s === "device") void app.settings?.load();
  });
  // the first screen: what was asked for, else the inbox, except for a device with nothing in it yet
  let first: Screen | null = asked ?? (to || shared ? "send" : null);
  if (!first && !focus) first = isEmpty() && store.loadSent().length === 0 ? "device" : "received";
  if (first) go(first);
  if (focus) void showTransfer(focus);
  document.documentElement.dataset.ready = "true";
}

void boot();
