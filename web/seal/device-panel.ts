import { fingerprint, formatDigits } from "../../client/seal";
import type { Kit } from "../kit";
import type { Device } from "../store";
import { rotateDeviceKey, type KeyState } from "./device-key";

/**
 * This device's key on the This device screen (issue 23): its 30-digit fingerprint, what the
 * key check found (app.deviceKey) in words, *New key*, and the warning that clearing the site's
 * data loses the id, the key and whatever is waiting (after asking the browser to keep the
 * site's storage: navigator.storage.persist()). Once the server is seen to publish this
 * device's key, the share link and its QR code carry it (`/?to=<id>#k=age1…`).
 * A lazy chunk: the shell only imports it when This device is filled in.
 */

let wired = false;

let K: Kit;
/** The share link's key, and what draws the link and its QR code (web/device.ts), handed over by the shell. */
let link: { linkKey: { key: string }; drawShareLink: (id: string) => void };

export async function showKey(kit: Kit, d: Device, share: typeof link): Promise<void> {
  K = kit;
  link = share;
  const { app, $ } = K;
  if (!wired) {
    wired = true;
    $("new-key").addEventListener("click", () => void newKey(d));
    void storageNote();
  }
  if (!app.deviceKey) return;
  render(d, await app.deviceKey.catch((): KeyState => ({ kind: "no_storage" })));
}

function render(d: Device, state: KeyState): void {
  const { $, t, fill, show } = K;
  show($("key-box"), true);
  const fp = $("my-fp");
  const words: string[] = [];
  if (state.kind === "no_storage") {
    fill(fp);
    show(fp, false);
    words.push(t("key.noStorage"));
  } else {
    fill(fp, formatDigits(fingerprint({ id: d.id, key: state.key.recipient })));
    show(fp, true);
    if (state.kind === "foreign") words.push(t("key.foreign"));
    if (state.kind === "unchecked") words.push(t("key.unchecked"));
    if (!state.key.nonExtractable) words.push(t("key.readable"));
  }
  const box = $("key-state");
  box.textContent = words.join(" ");
  box.classList.toggle("error", state.kind === "foreign" || state.kind === "no_storage");
  show($("new-key"), state.kind !== "no_storage");
  // the link carries the key only when the server is seen to publish it: a sender's device
  // refuses a link key the server does not publish
  link.linkKey.key = state.kind === "ok" ? state.key.recipient : "";
  link.drawShareLink(d.id);
}

async function newKey(d: Device): Promise<void> {
  const { $, t, app } = K;
  const button = $<HTMLButtonElement>("new-key");
  button.disabled = true;
  try {
    const next = rotateDeviceKey(app.client, d.id);
    app.deviceKey = next;
    render(d, await next);
    K.announce(t("key.made"));
  } catch {
    $("key-state").textContent = t("key.noStorage");
  } finally {
    button.disabled = false;
  }
}

/** Asks the browser to keep this site's storage, and says what clearing it would lose. */
async function storageNote(): Promise<void> {
  let kept = false;
  try {
    kept = (await navigator.storage?.persist?.()) ?? false;
  } catch {
    kept = false;
  }
  K.$("key-storage").textContent = K.t(kept ? "key.storageKept" : "key.storageMayGo");
}
