import { ApiError } from "../client";
import type { CreateTransferRequest } from "../src/contract";
import { DEFAULT_EXPIRES_IN, MAX_MESSAGE_LENGTH, MAX_RECIPIENTS } from "../src/contract/limits";
import { renderContacts } from "./contacts";
import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { fileName } from "./names";
import { go } from "./nav";
import { Outbox, waitable } from "./outbox";
import { SHARE_CACHE } from "./shared/share";
import { app, params } from "./state";
import { normalizeTerminalId } from "../src/contract/ids";
import * as store from "./store";
import { kit } from "./kit";

/**
 * The Send screen: recipient (typed, a remembered device, or scanned), files (chosen, dropped,
 * pasted or shared to pushdrop), a message, how long to keep it and how many downloads; then
 * what was sent and where it stands (the outbox). A send made while the server cannot be
 * reached waits in the outbox and goes by itself once it answers.
 */
import { t } from "./i18n/runtime";
import { asciiDigits, formatTerminalIdAscii, parseTerminalIdInput } from "./i18n/format";
import { bidi } from "./format";
import { idText, names as listNames, size as fmtSize } from "./format";

const WORDS = {
  notAnId: (what: string) => t("send.notAnId", { input: bidi(what) }),
  tooMany: (n: number) => t("send.tooManyRecipients", { count: n, max: MAX_RECIPIENTS }),
  nobodyHint: (ids: string) => t("send.noSuchIds", { ids }),
  nobody: (ids: string) => t("send.noSuchIdsCheck", { ids }),
  toNames: (list: string) => t("send.toNames", { names: list }),
  added: (n: number, all: number) => t("send.filesAdded", { added: n, total: all }),
  removeFile: (name: string) => t("send.removeFile", { name: bidi(name) }),
  total: (n: number, bytes: string) => t("send.filesTotal", { count: n, size: bytes }),
  checkDigits: (what: string) => t("send.notAnIdShort", { input: bidi(what) }),
  get enterId() { return t("send.needRecipient"); },
  get nothing() { return t("send.needContent"); },
  get tooLong() { return t("send.messageTooLong", { max: MAX_MESSAGE_LENGTH }); },
  get sending() { return t("send.sending"); },
  get send() { return t("send.send"); },
  get started() { return t("send.announceSending"); },
  get resumed() { return t("send.resumed"); },
  get waiting() { return t("send.waiting"); },
  get sharedFailed() { return t("send.shareFailed"); },
  get sharedUnreadable() { return t("send.shareUnreadable"); },
};

export const outbox = new Outbox(app.client, $<HTMLUListElement>("outbox"), $("sent-h"));
outbox.again = async (w) => (await import("./seal/send-sealed")).waitAgain(kit, outbox, w);


let picked: File[] = [];
const names = new Map<string, string | null>(); // terminal id → name (null: no such terminal)

async function lookup(id: string): Promise<string | null> {
  if (names.has(id)) return names.get(id)!;
  try {
    const t = await app.client.lookup(id);
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
  for (const part of value.split(/[,;\n\u060c\u061b]+/).map((s) => s.trim()).filter(Boolean)) {
    const id = parseTerminalIdInput(part);
    if (id) {
      if (!ids.includes(id)) ids.push(id);
    } else bad.push(part);
  }
  return { ids, bad };
}

const tooManyRecipients = WORDS.tooMany;

let hintSeq = 0;
export async function updateRecipientHint(): Promise<void> {
  const seq = ++hintSeq;
  const value = $<HTMLInputElement>("to").value;
  const hint = $("to-hint");
  hint.classList.remove("error", "ok");
  const { ids, bad } = recipients(value);
  sealRows(ids.length <= MAX_RECIPIENTS ? ids : []);
  const complete = asciiDigits(value).replace(/[^\d]/g, "").length >= 9 || bad.some((b) => asciiDigits(b).replace(/\D/g, "").length > 9);
  if (bad.length && complete) {
    hint.textContent = WORDS.notAnId(bad[0]!);
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
      hint.textContent = WORDS.nobodyHint(listNames(missing.map(([id]) => idText(id))));
      hint.classList.add("error");
    } else {
      hint.textContent = WORDS.toNames(listNames(found.map(([, n]) => n ?? "")));
      hint.classList.add("ok");
    }
  } catch {
    if (seq === hintSeq) hint.textContent = "";
  }
}

/** The recipients' keys under the field (seal/trust.ts, a lazy chunk; none: hidden). */
const trust = () => import("./seal/trust");
const sealRows = (ids: string[]) => void trust().then((m) => m.showRecipients(kit, ids));
const sealOn = () => $<HTMLInputElement>("sealed").checked;
const sealHint = () => ($("seal-hint").textContent = t(sealOn() ? "seal.on" : "seal.off"));

export function setRecipient(id: string): void {
  const to = $<HTMLInputElement>("to");
  to.value = formatTerminalIdAscii(id);
  void updateRecipientHint();
}

export function addFiles(files: Iterable<File>): void {
  const list = [...files];
  if (!list.length) return;
  picked = [...picked, ...list];
  showPicked();
  showSendError("");
  announce(WORDS.added(list.length, picked.length));
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
        h("span", { class: "name" }, fileName(f.name)),
        h("span", { class: "muted nowrap" }, fmtSize(f.size)),
        h(
          "button",
          {
            type: "button",
            class: "chip-x",
            "aria-label": WORDS.removeFile(f.name),
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
    ul.append(h("li", { class: "total muted" }, WORDS.total(picked.length, fmtSize(picked.reduce((s, f) => s + f.size, 0)))));
  }
}

export function showSendError(message: string): void {
  const box = $("send-error");
  box.textContent = message;
  show(box, message !== "");
}

export function refreshContacts(list = store.loadContacts()): void {
  renderContacts(
    $<HTMLUListElement>("contacts"),
    list.filter((c) => c.id !== app.device?.id),
    (c) => {
      setRecipient(c.id);
      $("files").focus();
    },
    (c) => {
      refreshContacts(store.forgetContact(c.id));
      void app.settings?.forgetContact(c.id);
    },
  );
}

const validType = (t: string) => (/^[\w.+-]+\/[\w.+-]+$/.test(t) ? t : undefined);

/** The create request the form describes. */
function requestFor(ids: string[], files: File[], message: string | undefined): CreateTransferRequest {
  const expiresIn = Number($<HTMLSelectElement>("expires").value) || DEFAULT_EXPIRES_IN;
  const maxDownloads = Number($<HTMLSelectElement>("max-downloads").value) || undefined;
  return {
    to: ids,
    files: files.map((f) => ({ name: f.name, size: f.size, type: validType(f.type) })),
    message,
    ...(expiresIn !== DEFAULT_EXPIRES_IN ? { expiresIn } : {}),
    ...(maxDownloads ? { maxDownloads } : {}),
  };
}

/**
 * An unfinished transfer of these very files (names, sizes, dates) to these recipients with
 * this message, sent from this browser before a reload: choosing them again resumes it.
 */
async function unfinished(ids: string[], files: File[], message: string | null): Promise<store.SentRecord | null> {
  const same = (r: store.SentRecord) =>
    r.files.length === files.length &&
    r.files.length > 0 &&
    !r.sealed &&
    r.message === message &&
    r.to.length === ids.length &&
    r.to.every((t) => ids.includes(t.id)) &&
    r.files.every((f, i) => f.name === files[i]!.name && f.size === files[i]!.size && f.lastModified === files[i]!.lastModified);
  for (const r of store.loadSent().filter(same)) {
    try {
      if ((await app.client.transfer(r.id)).status === "uploading") return r;
    } catch {
      // gone: not this one
    }
  }
  return null;
}

async function send(e: Event): Promise<void> {
  e.preventDefault();
  if (!app.device) return;
  showSendError("");
  const toInput = $<HTMLInputElement>("to");
  const messageInput = $<HTMLTextAreaElement>("message");
  const { ids, bad } = recipients(toInput.value);
  if (bad.length) {
    showSendError(WORDS.checkDigits(bad[0]!));
    return toInput.focus();
  }
  if (!ids.length) {
    showSendError(WORDS.enterId);
    return toInput.focus();
  }
  if (ids.length > MAX_RECIPIENTS) {
    showSendError(tooManyRecipients(ids.length));
    return toInput.focus();
  }
  const message = messageInput.value.trim() ? messageInput.value : undefined;
  if (!picked.length && !message) {
    showSendError(WORDS.nothing);
    return $("files").focus();
  }
  if ((message?.length ?? 0) > MAX_MESSAGE_LENGTH) {
    showSendError(WORDS.tooLong);
    return messageInput.focus();
  }
  const button = $<HTMLButtonElement>("send-btn");
  button.disabled = true;
  button.textContent = WORDS.sending;
  const files = picked;
  const clear = () => {
    picked = [];
    showPicked();
    messageInput.value = "";
  };
  // (read once: what is sent sealed never reaches the plain wait below, whatever fails)
  const sealed = sealOn();
  try {
    if (sealed) {
      // sealed (issue 23): seal/send-sealed.ts checks the recipients, and says itself why
      // nothing was sent; offline it seals to the pinned keys and the send waits
      const to = ids.map((id) => ({ id, name: names.get(id) ?? "" }));
      const r = requestFor(ids, [], undefined);
      const done = await (await import("./seal/send-sealed")).sendSealed(kit, outbox, { to, files, message, expiresIn: r.expiresIn, maxDownloads: r.maxDownloads });
      if (!done) return;
      for (const w of to) store.rememberContact(w);
      refreshContacts();
      clear();
      sealRows(ids);
      return announce(done === "sent" ? WORDS.started : done === "waiting" ? WORDS.waiting : WORDS.resumed);
    }
    const who = await Promise.all(ids.map(async (id) => ({ id, name: await lookup(id) })));
    const missing = who.filter((w) => w.name === null);
    if (missing.length) {
      showSendError(WORDS.nobody(listNames(missing.map((w) => idText(w.id)))));
      return toInput.focus();
    }
    const to = who.map((w) => ({ id: w.id, name: w.name ?? "" }));
    const again = await unfinished(ids, files, message ?? null);
    if (again) {
      outbox.resume(again, files);
      clear();
      announce(WORDS.resumed);
      return;
    }
    const req = requestFor(ids, files, message);
    const created = await outbox.create(req, to, files);
    for (const w of to) store.rememberContact(w);
    refreshContacts();
    clear();
    announce(created ? WORDS.started : WORDS.waiting);
  } catch (err) {
    if (!sealed && waitable(err)) {
      // (the lookups could not reach the server either: the send waits all the same)
      const to = ids.map((id) => ({ id, name: names.get(id) ?? "" }));
      outbox.wait(requestFor(ids, files, message), to, files);
      clear();
      announce(WORDS.waiting);
    } else showSendError(plainError(err));
  } finally {
    button.disabled = false;
    button.textContent = WORDS.send;
  }
}

export function wireSend(): void {
  const to = $<HTMLInputElement>("to");
  let timer: ReturnType<typeof setTimeout> | undefined;
  to.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => void updateRecipientHint(), 250);
  });
  to.addEventListener("blur", () => {
    const { ids, bad } = recipients(to.value);
    if (!bad.length && ids.length) to.value = ids.map(formatTerminalIdAscii).join(", ");
  });
  const files = $<HTMLInputElement>("files");
  files.addEventListener("change", () => {
    addFiles(files.files ?? []);
    files.value = "";
  });
  $("send-form").addEventListener("submit", (e) => void send(e));
  const sealed = $<HTMLInputElement>("sealed");
  sealed.addEventListener("change", sealHint);
  sealHint();
  // a share link's key (`/?to=<id>#k=age1…`, the fragment never sent to the server): pinned, then gone from the address
  const k = new URLSearchParams(location.hash.slice(1)).get("k");
  const linked = normalizeTerminalId(params.get("to") ?? "");
  if (k) history.replaceState(null, "", location.pathname + location.search);
  if (k && linked) void trust().then((m) => m.fromLink(kit, linked, k, false)).then(() => sealRows([linked]));
  const scan = $<HTMLButtonElement>("scan");
  show(scan, typeof navigator.mediaDevices?.getUserMedia === "function");
  scan.addEventListener("click", async () => {
    try {
      const got = await (await import("./scan")).scanForId(kit);
      if (got) {
        // a scanned code's key is compared in person: pinned as verified (seal/trust.ts)
        if (got.key) await (await trust()).fromLink(kit, got.id, got.key, true);
        setRecipient(got.id);
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
    go("send");
  });
}

/** Share → pushdrop: the service worker left the shared files and text in Cache Storage. */
export async function takeShared(key: string): Promise<void> {
  if (key === "failed") return showSendError(WORDS.sharedFailed);
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
    go("send");
    $("to").focus();
  } catch {
    showSendError(WORDS.sharedUnreadable);
  }
}

