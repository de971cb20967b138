import { ApiError, NetworkError, formatBytes, isTransient } from "../client";
import type { CreateTransferRequest } from "../src/contract";
import { formatTerminalId } from "../src/contract/ids";
import { normalizeTerminalId } from "../src/contract/ids";
import { DEFAULT_EXPIRES_IN, MAX_MESSAGE_LENGTH, MAX_RECIPIENTS } from "../src/contract/limits";
import { renderContacts } from "./contacts";
import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { fileName } from "./names";
import { go } from "./nav";
import { Outbox } from "./outbox";
import { canScan, scanForId } from "./scan";
import { SHARE_CACHE } from "./shared/share";
import { app } from "./state";
import * as store from "./store";

/**
 * The Send screen: recipient (typed, a remembered device, or scanned), files (chosen, dropped,
 * pasted or shared to pushdrop), a message, how long to keep it and how many downloads; then
 * what was sent and where it stands (the outbox). A send made while the server cannot be
 * reached waits in the outbox and goes by itself once it answers.
 */
const WORDS = {
  notAnId: (what: string) => `${what} is not a pushdrop id: 9 digits, and the last one checks the others, so a typo shows up here.`,
  tooMany: (n: number) => `${n} recipients: a transfer goes to at most ${MAX_RECIPIENTS} at once.`,
  nobodyHint: (ids: string) => `No device has the id ${ids}.`,
  nobody: (ids: string) => `No device has the id ${ids}. Check the number.`,
  toNames: (names: string) => `To ${names}`,
  added: (n: number, all: number) => (n === 1 ? `1 file added, ${all} in all.` : `${n} files added, ${all} in all.`),
  removeFile: (name: string) => `Remove ${name}`,
  total: (n: number, size: string) => `${n} files · ${size}`,
  checkDigits: (what: string) => `${what} is not a pushdrop id. Check the digits.`,
  enterId: "Enter the recipient's id: the 9 digits shown on the other device.",
  nothing: "Choose files, or write a message.",
  tooLong: `The message is too long: at most ${MAX_MESSAGE_LENGTH} characters.`,
  sending: "Sending…",
  send: "Send",
  started: "Sending.",
  resumed: "Resuming the unfinished transfer of these files.",
  waiting: "No connection to pushdrop: the send waits in Sent and goes by itself when the server answers.",
  sharedFailed: "The shared files could not be received. Choose them here instead.",
  sharedUnreadable: "The shared files could not be read. Choose them here instead.",
};

export const outbox = new Outbox(app.client, $<HTMLUListElement>("outbox"), $("sent-h"));


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
  for (const part of value.split(/[,;\n]+/).map((s) => s.trim()).filter(Boolean)) {
    const id = normalizeTerminalId(part);
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
  const complete = value.replace(/[^\d]/g, "").length >= 9 || bad.some((b) => b.replace(/\D/g, "").length > 9);
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
      hint.textContent = WORDS.nobodyHint(missing.map(([id]) => formatTerminalId(id)).join(", "));
      hint.classList.add("error");
    } else {
      hint.textContent = WORDS.toNames(found.map(([, n]) => n).join(", "));
      hint.classList.add("ok");
    }
  } catch {
    if (seq === hintSeq) hint.textContent = "";
  }
}

export function setRecipient(id: string): void {
  const to = $<HTMLInputElement>("to");
  to.value = formatTerminalId(id);
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
        h("span", { class: "muted nowrap" }, formatBytes(f.size)),
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
    ul.append(h("li", { class: "total muted" }, WORDS.total(picked.length, formatBytes(picked.reduce((s, f) => s + f.size, 0)))));
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
  try {
    const who = await Promise.all(ids.map(async (id) => ({ id, name: await lookup(id) })));
    const missing = who.filter((w) => w.name === null);
    if (missing.length) {
      showSendError(WORDS.nobody(missing.map((w) => formatTerminalId(w.id)).join(", ")));
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
    if (err instanceof NetworkError || (isTransient(err) && !(err instanceof ApiError && err.status === 429))) {
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

