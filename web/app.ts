import { ApiError, LiveChannel, PushdropClient, formatBytes, type WebSocketFactory } from "../client";
import type { CreateTransferRequest, PushPayload, ServerMessage, Transfer } from "../src/contract";
import { formatTerminalId, fromBase64url, normalizeTerminalId } from "../src/contract/ids";
import { MAX_MESSAGE_LENGTH, MAX_RECIPIENTS } from "../src/contract/limits";
import { renderContacts } from "./contacts";
import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { Inbox, copy } from "./inbox";
import { Outbox } from "./outbox";
import { qrSvg } from "./qr";
import { canScan, scanForId } from "./scan";
import { Settings, type ServerSettings } from "./settings";
import { noticeFor } from "./shared/notice";
import { SHARE_CACHE } from "./shared/share";
import * as store from "./store";

/**
 * pushdrop's web app: this device's id (large, as a QR code and as a link), the send form, the
 * live inbox, what was sent and where it stands. No framework: the page's markup is in
 * index.html, and each part below fills or updates its own elements.
 */

const client = new PushdropClient({ server: location.origin });
let device: store.Device | null = null;
let channel: LiveChannel | null = null;
let settings: Settings | null = null;
const inbox = new Inbox($<HTMLUListElement>("inbox"), $("inbox-empty"), () => {
  const s = settings;
  return s?.data && device ? { self: device.id, blocked: (id) => s.data!.blocked.some((b) => b.id === id), block: (from) => s.block(from.id, from.name) } : null;
});
const outbox = new Outbox(client, $<HTMLUListElement>("outbox"), $("sent-h"));
/** transfer.ready messages shown while the page was hidden: acknowledged once it is seen */
const unseen: string[] = [];
const params = new URLSearchParams(location.search);

// ---- this device ------------------------------------------------------------------------------

function guessName(): string {
  const ua = navigator.userAgent;
  if (/iPhone/.test(ua)) return "iPhone";
  if (/iPad/.test(ua) || (/Macintosh/.test(ua) && navigator.maxTouchPoints > 1)) return "iPad";
  if (/Android/.test(ua)) return /Mobile/.test(ua) ? "Android phone" : "Android tablet";
  if (/CrOS/.test(ua)) return "Chromebook";
  if (/Mac OS X/.test(ua)) return "Mac";
  if (/Windows/.test(ua)) return "Windows PC";
  if (/Linux/.test(ua)) return "Linux computer";
  return "Browser";
}

async function ensureDevice(): Promise<store.Device | null> {
  const kept = store.loadDevice();
  if (kept) return kept;
  if (params.has("forgotten")) return null;
  const created = await client.register(guessName());
  const d: store.Device = { id: created.id, token: created.token, name: created.name };
  store.saveDevice(d);
  return d;
}

function shareUrl(id: string): string {
  return `${location.origin}/?to=${id}`;
}

function showDevice(d: store.Device): void {
  $("my-name").textContent = d.name;
  $("my-id").textContent = formatTerminalId(d.id);
  const link = $<HTMLAnchorElement>("share-link");
  link.href = shareUrl(d.id);
  link.textContent = shareUrl(d.id).replace(/^https?:\/\//, "");
  fill($("qr"), qrSvg(shareUrl(d.id), `QR code of your id, ${formatTerminalId(d.id)}`));
  show($("share-btn"), typeof navigator.share === "function");
}

function showDeviceError(message: string, action?: { label: string; run: () => void }): void {
  const box = $("me-error");
  fill(box, h("p", null, message), action ? h("button", { type: "button", onclick: action.run }, action.label) : null);
  show(box, true);
}

/** Renaming takes the v1.1 settings endpoint; until a server has it, the name is kept here. */
async function pushName(): Promise<void> {
  if (!device?.pendingName || !settings) return;
  const note = $("rename-note");
  try {
    const taken = await settings.rename(device.pendingName);
    if (taken) {
      device = { ...device, pendingName: undefined };
      store.saveDevice(device);
      show(note, false);
      return;
    }
    note.textContent = "Saved in this browser. This server cannot rename devices yet, so others still see the first name.";
  } catch (e) {
    note.textContent = `Saved in this browser; the server did not take it yet: ${plainError(e)}`;
  }
  show(note, true);
}

/** What a v1.1 server keeps: its name for this device (unless one chosen here waits), its contacts. */
function onSettings(s: ServerSettings): void {
  if (device && !device.pendingName && s.name && s.name !== device.name) {
    device = { ...device, name: s.name };
    store.saveDevice(device);
    $("my-name").textContent = s.name;
  }
  refreshContacts(store.mergeContacts(s.contacts));
  inbox.refresh();
}

function wireDevice(): void {
  const form = $<HTMLFormElement>("rename-form");
  const input = $<HTMLInputElement>("name-input");
  $("rename").addEventListener("click", () => {
    input.value = device?.name ?? "";
    show(form, true);
    show($("rename-note"), false);
    input.focus();
    input.select();
  });
  $("rename-cancel").addEventListener("click", () => show(form, false));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const name = input.value.replace(/[\u0000-\u001f\u007f-\u009f]/g, "").trim().slice(0, 64);
    if (!device || !name) return;
    device = { ...device, name, pendingName: name };
    store.saveDevice(device);
    $("my-name").textContent = name;
    show(form, false);
    announce(`Renamed to ${name}.`);
    void pushName();
  });

  $("copy-link").addEventListener("click", (e) => device && void copy(shareUrl(device.id), e.currentTarget as HTMLButtonElement));
  $("share-btn").addEventListener("click", () => {
    if (device) void navigator.share({ title: "Send me files with pushdrop", url: shareUrl(device.id) }).catch(() => {});
  });

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
  if (!device) return;
  const button = $<HTMLButtonElement>("forget");
  button.disabled = true;
  try {
    await client.deleteTerminal(device.id);
  } catch (e) {
    // a server without DELETE /v1/terminals/{id} (v1.1), or an id already gone: forget it here all the same
    const gone = e instanceof ApiError && [401, 403, 404, 405].includes(e.status);
    if (!gone) {
      button.disabled = false;
      showDeviceError(`Could not forget this device: ${plainError(e)}`);
      return;
    }
  }
  channel?.close();
  try {
    const reg = await navigator.serviceWorker?.getRegistration();
    await (await reg?.pushManager?.getSubscription())?.unsubscribe();
  } catch {
    // no subscription to end
  }
  store.clearAll();
  location.replace("/?forgotten=1");
}

// ---- notifications ----------------------------------------------------------------------------

/**
 * The server's VAPID key, fetched when the page loads: Safari lets `pushManager.subscribe` run
 * only close to the tap that asked for it, so nothing slow may come between the two.
 */
let vapidKey: Promise<Uint8Array> | null = null;
const vapid = () =>
  (vapidKey ??= client.vapidPublicKey().then(fromBase64url, (e) => {
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
  button.textContent = on ? "Turn off notifications" : "Enable notifications";
  button.dataset.on = String(on);
  $("notify-state").textContent = note || (on ? "Notifications are on." : "");
}

async function enableNotifications(): Promise<void> {
  if (!device) return;
  if (!pushSupported()) {
    showNotifyState(false, "This browser cannot show notifications from websites (on iPhone and iPad: add pushdrop to the Home Screen first).");
    return;
  }
  const permission = await Notification.requestPermission();
  if (permission !== "granted") {
    showNotifyState(false, "Notifications are blocked for this site. Allow them in the browser's site settings.");
    return;
  }
  showNotifyState(false, "Turning on…");
  try {
    const [reg, wanted] = await Promise.all([navigator.serviceWorker.ready, vapid()]);
    let sub = await reg.pushManager.getSubscription();
    if (sub && !sameKey(sub.options.applicationServerKey, wanted)) {
      await sub.unsubscribe();
      sub = null;
    }
    sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: wanted as Uint8Array<ArrayBuffer> });
    await client.putPushSubscription(device.id, sub.toJSON() as Parameters<typeof client.putPushSubscription>[1]);
    showNotifyState(true);
    announce("Notifications are on.");
  } catch (e) {
    showNotifyState(false, e instanceof ApiError ? plainError(e) : "This browser could not turn notifications on (its push service is out of reach).");
  }
}

async function disableNotifications(): Promise<void> {
  if (!device) return;
  try {
    const sub = await currentSubscription();
    if (sub) {
      await client.deletePushSubscription(device.id, sub.endpoint).catch(() => {});
      await sub.unsubscribe();
    }
    showNotifyState(false, "Notifications are off.");
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
async function syncNotifications(): Promise<void> {
  if (!device) return;
  if (pushSupported()) void vapid().catch(() => {});
  const sub = await currentSubscription().catch(() => null);
  if (sub && Notification.permission === "granted") {
    showNotifyState(true);
    await client.putPushSubscription(device.id, sub.toJSON() as Parameters<typeof client.putPushSubscription>[1]).catch(() => {});
  } else if (pushSupported() && Notification.permission === "denied") {
    showNotifyState(false, "Notifications are blocked for this site in the browser's settings.");
  }
}

// ---- send -------------------------------------------------------------------------------------

let picked: File[] = [];
const names = new Map<string, string | null>(); // terminal id → name (null: no such terminal)

async function lookup(id: string): Promise<string | null> {
  if (names.has(id)) return names.get(id)!;
  try {
    const t = await client.lookup(id);
    names.set(id, t.name);
    return t.name;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      names.set(id, null);
      return null;
    }
    throw e;
  }
}

function recipients(value: string): { ids: string[]; bad: string[] } {
  const ids: string[] = [];
  const bad: string[] = [];
  for (const part of value.split(/[,;\n]+/).map((s) => s.trim()).filter(Boolean)) {
    const id = normalizeTerminalId(part);
    if (id) {
      if (!ids.includes(id)) ids.push(id);
    } else bad.push(part);
  }
  return { ids, bad };
}

const tooManyRecipients = (n: number) => `${n} recipients: a transfer goes to at most ${MAX_RECIPIENTS} at once.`;

let hintSeq = 0;
async function updateRecipientHint(): Promise<void> {
  const seq = ++hintSeq;
  const value = $<HTMLInputElement>("to").value;
  const hint = $("to-hint");
  hint.classList.remove("error", "ok");
  const { ids, bad } = recipients(value);
  const complete = value.replace(/[^\d]/g, "").length >= 9 || bad.some((b) => b.replace(/\D/g, "").length > 9);
  if (bad.length && complete) {
    hint.textContent = `${bad[0]} is not a pushdrop id: 9 digits, and the last one checks the others, so a typo shows up here.`;
    hint.classList.add("error");
    return;
  }
  if (!ids.length) {
    hint.textContent = "";
    return;
  }
  if (ids.length > MAX_RECIPIENTS) {
    // (and no lookups: a pasted list of hundreds would spend the rate limit on them)
    hint.textContent = tooManyRecipients(ids.length);
    hint.classList.add("error");
    return;
  }
  try {
    const found = await Promise.all(ids.map(async (id) => [id, await lookup(id)] as const));
    if (seq !== hintSeq) return;
    const missing = found.filter(([, n]) => n === null);
    if (missing.length) {
      hint.textContent = `No device has the id ${missing.map(([id]) => formatTerminalId(id)).join(", ")}.`;
      hint.classList.add("error");
    } else {
      hint.textContent = `To ${found.map(([, n]) => n).join(", ")}`;
      hint.classList.add("ok");
    }
  } catch {
    if (seq === hintSeq) hint.textContent = "";
  }
}

function setRecipient(id: string): void {
  const to = $<HTMLInputElement>("to");
  to.value = formatTerminalId(id);
  void updateRecipientHint();
}

function addFiles(files: Iterable<File>): void {
  const list = [...files];
  if (!list.length) return;
  picked = [...picked, ...list];
  showPicked();
  showSendError("");
  announce(`${list.length} file${list.length === 1 ? "" : "s"} added, ${picked.length} in all.`);
}

function showPicked(): void {
  const ul = $<HTMLUListElement>("picked");
  show(ul, picked.length > 0);
  fill(
    ul,
    picked.map((f, i) =>
      h(
        "li",
        null,
        h("span", { class: "name" }, f.name),
        h("span", { class: "muted nowrap" }, formatBytes(f.size)),
        h(
          "button",
          {
            type: "button",
            class: "chip-x",
            "aria-label": `Remove ${f.name}`,
            onclick: () => {
              picked = picked.filter((_, j) => j !== i);
              showPicked();
              $("files").focus();
            },
          },
          "×",
        ),
      ),
    ),
  );
  if (picked.length > 1) {
    ul.append(h("li", { class: "total muted" }, `${picked.length} files · ${formatBytes(picked.reduce((s, f) => s + f.size, 0))}`));
  }
}

function showSendError(message: string): void {
  const box = $("send-error");
  box.textContent = message;
  show(box, message !== "");
}

function refreshContacts(list = store.loadContacts()): void {
  renderContacts(
    $<HTMLUListElement>("contacts"),
    list.filter((c) => c.id !== device?.id),
    (c) => {
      setRecipient(c.id);
      $("files").focus();
    },
    (c) => {
      refreshContacts(store.forgetContact(c.id));
      void settings?.forgetContact(c.id);
    },
  );
}

const validType = (t: string) => (/^[\w.+-]+\/[\w.+-]+$/.test(t) ? t : undefined);

async function send(e: Event): Promise<void> {
  e.preventDefault();
  if (!device) return;
  showSendError("");
  const toInput = $<HTMLInputElement>("to");
  const messageInput = $<HTMLTextAreaElement>("message");
  const { ids, bad } = recipients(toInput.value);
  if (bad.length) {
    showSendError(`${bad[0]} is not a pushdrop id. Check the digits.`);
    return toInput.focus();
  }
  if (!ids.length) {
    showSendError("Enter the recipient's id: the 9 digits shown on the other device.");
    return toInput.focus();
  }
  if (ids.length > MAX_RECIPIENTS) {
    showSendError(tooManyRecipients(ids.length));
    return toInput.focus();
  }
  const message = messageInput.value.trim() ? messageInput.value : undefined;
  if (!picked.length && !message) {
    showSendError("Choose files, or write a message.");
    return $("files").focus();
  }
  if ((message?.length ?? 0) > MAX_MESSAGE_LENGTH) {
    showSendError(`The message is too long: at most ${MAX_MESSAGE_LENGTH} characters.`);
    return messageInput.focus();
  }
  const button = $<HTMLButtonElement>("send-btn");
  button.disabled = true;
  button.textContent = "Sending…";
  try {
    const who = await Promise.all(ids.map(async (id) => ({ id, name: await lookup(id).catch(() => "") })));
    const missing = who.filter((w) => w.name === null);
    if (missing.length) {
      showSendError(`No device has the id ${missing.map((w) => formatTerminalId(w.id)).join(", ")}. Check the number.`);
      return toInput.focus();
    }
    const files = picked;
    const req: CreateTransferRequest = { to: ids, files: files.map((f) => ({ name: f.name, size: f.size, type: validType(f.type) })), message };
    const transfer = await client.createTransfer(req);
    const record: store.SentRecord = {
      id: transfer.id,
      at: transfer.createdAt,
      to: who.map((w) => ({ id: w.id, name: w.name ?? "" })),
      files: files.map((f) => ({ name: f.name, size: f.size })),
      message: message ?? null,
    };
    store.recordSent(record);
    for (const w of who) store.rememberContact({ id: w.id, name: w.name ?? "" });
    refreshContacts();
    outbox.start(record, transfer, files);
    picked = [];
    showPicked();
    messageInput.value = "";
    announce("Sending.");
  } catch (err) {
    showSendError(plainError(err));
  } finally {
    button.disabled = false;
    button.textContent = "Send";
  }
}

function wireSend(): void {
  const to = $<HTMLInputElement>("to");
  let timer: ReturnType<typeof setTimeout> | undefined;
  to.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => void updateRecipientHint(), 250);
  });
  to.addEventListener("blur", () => {
    const { ids, bad } = recipients(to.value);
    if (!bad.length && ids.length) to.value = ids.map(formatTerminalId).join(", ");
  });
  const files = $<HTMLInputElement>("files");
  files.addEventListener("change", () => {
    addFiles(files.files ?? []);
    files.value = "";
  });
  $("send-form").addEventListener("submit", (e) => void send(e));
  const scan = $<HTMLButtonElement>("scan");
  show(scan, canScan());
  scan.addEventListener("click", async () => {
    try {
      const id = await scanForId();
      if (id) {
        setRecipient(id);
        $("files").focus();
      }
    } catch (err) {
      showSendError(err instanceof Error ? err.message : String(err));
    }
  });

  // paste files anywhere (a screenshot, files copied in a file manager)
  document.addEventListener("paste", (e) => {
    const pasted = [...(e.clipboardData?.files ?? [])];
    if (!pasted.length) return;
    e.preventDefault();
    addFiles(pasted);
  });

  // drag files anywhere onto the page
  const zone = $("dropzone");
  let depth = 0;
  const hasFiles = (e: DragEvent) => [...(e.dataTransfer?.types ?? [])].includes("Files");
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    depth++;
    show(zone, true);
  });
  document.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) show(zone, false);
  });
  document.addEventListener("dragover", (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    if (e.dataTransfer) e.dataTransfer.dropEffect = "copy";
  });
  document.addEventListener("drop", (e) => {
    depth = 0;
    show(zone, false);
    if (!hasFiles(e)) return;
    e.preventDefault();
    addFiles(e.dataTransfer?.files ?? []);
    $("send").scrollIntoView({ behavior: "smooth", block: "start" });
  });
}

/** Share → pushdrop: the service worker left the shared files and text in Cache Storage. */
async function takeShared(key: string): Promise<void> {
  if (key === "failed") return showSendError("The shared files could not be received. Choose them here instead.");
  try {
    const cache = await caches.open(SHARE_CACHE);
    const meta = await cache.match(`/_share/${key}/meta`);
    if (!meta) return;
    const { text, files } = (await meta.json()) as { text: string; files: Array<{ name: string; type: string }> };
    const got: File[] = [];
    for (let i = 0; i < files.length; i++) {
      const res = await cache.match(`/_share/${key}/${i}`);
      if (res) got.push(new File([await res.blob()], files[i]!.name, { type: files[i]!.type }));
    }
    addFiles(got);
    if (text) $<HTMLTextAreaElement>("message").value = text;
    for (const req of await cache.keys()) if (new URL(req.url).pathname.startsWith(`/_share/${key}/`)) await cache.delete(req);
    $("send").scrollIntoView({ block: "start" });
    $("to").focus();
  } catch {
    showSendError("The shared files could not be read. Choose them here instead.");
  }
}

// ---- receive ----------------------------------------------------------------------------------

function liveState(state: string, text: string): void {
  const el = $("live");
  el.dataset.state = state;
  el.textContent = text;
}

function connect(d: store.Device): void {
  channel = new LiveChannel(client, d.id, {
    WebSocket: WebSocket as unknown as WebSocketFactory,
    onMessage,
    onState: (state, detail) => {
      if (state === "open") {
        liveState("open", "Live");
        outbox.refreshAll();
      } else if (state === "reconnecting") {
        liveState("reconnecting", navigator.onLine === false ? "Offline" : `Reconnecting${detail?.retryInMs && detail.retryInMs > 1500 ? ` in ${Math.round(detail.retryInMs / 1000)} s` : ""}…`);
      } else if (state === "closed" && detail?.error) {
        liveState("closed", "Not connected");
        showDeviceError("This device's id is no longer valid on this server (it was forgotten, or the server was reset).", {
          label: "Get a new id",
          run: () => {
            store.clearAll();
            location.replace("/");
          },
        });
      }
    },
  });
}

function onMessage(msg: ServerMessage): void {
  switch (msg.type) {
    case "transfer.ready": {
      const t = msg.transfer;
      const fresh = !inbox.has(t.id);
      inbox.add(t, true);
      store.rememberContact({ id: t.from.id, name: t.from.name });
      refreshContacts();
      if (fresh) announce(noticeFor(msg).title);
      if (document.visibilityState === "visible") channel?.ack(msg.id);
      else {
        unseen.push(msg.id);
        document.title = `(${unseen.length}) pushdrop`;
        if (fresh) void notifyHidden(msg);
      }
      return;
    }
    case "transfer.downloaded":
      outbox.receipt(msg.transferId, msg.by, msg.at);
      break;
    case "transfer.failed":
      outbox.failed(msg.transferId, msg.reason);
      break;
    case "transfer.expired":
    case "transfer.cancelled": {
      const kind = msg.type === "transfer.expired" ? "expired" : "cancelled";
      inbox.end(msg.transferId, kind);
      outbox.ended(msg.transferId, kind);
      break;
    }
  }
  channel?.ack(msg.id);
}

/** The page is open but hidden (another tab, the phone's other app): tell the person anyway. */
async function notifyHidden(msg: PushPayload): Promise<void> {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  try {
    const reg = await navigator.serviceWorker.getRegistration("/");
    const n = noticeFor(msg);
    await reg?.showNotification(n.title, { body: n.body, tag: n.tag, icon: "/icons/icon-192.png", badge: "/icons/badge-96.png", data: { url: n.url, transferId: n.transferId } });
  } catch {
    // the inbox shows it when the page is seen
  }
}

async function loadInbox(): Promise<void> {
  if (!device) return;
  try {
    inbox.load(await client.inbox(device.id));
    show($("inbox-error"), false);
  } catch (e) {
    const box = $("inbox-error");
    box.textContent = `The inbox could not be loaded: ${plainError(e)}`;
    show(box, true);
  }
}

/** Brings one transfer into view (a notification was clicked, or the page opened with ?transfer=). */
async function showTransfer(id: string): Promise<void> {
  if (!id) return;
  if (inbox.focus(id) || outbox.focus(id)) return;
  try {
    const t: Transfer = await client.transfer(id);
    if (t.to.includes(device?.id ?? "")) {
      inbox.add(t, true);
      inbox.focus(id);
    }
  } catch {
    // gone, or not ours: nothing to show
  }
}

function onVisible(): void {
  if (document.visibilityState !== "visible") return;
  for (const id of unseen.splice(0)) channel?.ack(id);
  document.title = "pushdrop";
  channel?.reconnectNow();
  outbox.refreshAll();
  void loadInbox();
}

// ---- start ------------------------------------------------------------------------------------

async function boot(): Promise<void> {
  wireDevice();
  wireSend();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    navigator.serviceWorker.addEventListener("message", (e) => {
      const data = e.data as { type?: string; transferId?: string };
      if (data?.type === "pushdrop.show") void showTransfer(data.transferId ?? "");
      if (data?.type === "pushdrop.push") {
        channel?.reconnectNow();
        outbox.refreshAll();
        void loadInbox();
      }
    });
  }
  $("notify").addEventListener("click", () => void ($("notify").dataset.on === "true" ? disableNotifications() : enableNotifications()));

  const to = params.get("to");
  if (to) {
    const id = normalizeTerminalId(to);
    if (id) setRecipient(id);
    else {
      $<HTMLInputElement>("to").value = to;
      void updateRecipientHint();
    }
  }

  try {
    device = await ensureDevice();
  } catch (e) {
    liveState("closed", "Not connected");
    showDeviceError(`Could not get an id for this device: ${plainError(e)}`, { label: "Try again", run: () => location.reload() });
    show($("me-body"), false);
    return;
  }
  if (!device) {
    show($("me-body"), false);
    show($("forgotten"), true);
    show($("send"), false);
    show($("received"), false);
    liveState("closed", "Not connected");
    return;
  }
  client.token = device.token;
  const me = device.id;
  settings = new Settings(client, me, () => store.loadContacts().map((c) => c.id).filter((id) => id !== me), onSettings);
  showDevice(device);
  refreshContacts();
  connect(device);
  document.addEventListener("visibilitychange", onVisible);
  window.addEventListener("online", () => channel?.reconnectNow());
  // closing the page mid-upload stops it (it can resume when the same files are chosen again): ask first
  window.addEventListener("beforeunload", (e) => {
    if (outbox.busy) e.preventDefault();
  });

  const shared = params.get("share");
  if (to || shared || params.has("transfer") || params.has("forgotten")) history.replaceState(null, "", "/");
  if (shared) void takeShared(shared);
  if (to) $("send").scrollIntoView({ block: "start" });

  await Promise.all([loadInbox(), outbox.restore(), syncNotifications(), settings.load().then(pushName)]);
  const focus = params.get("transfer");
  if (focus) void showTransfer(focus);
  document.documentElement.dataset.ready = "true";
}

void boot();
