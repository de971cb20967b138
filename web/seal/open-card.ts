import type { Transfer } from "../../src/contract";
import { cleanName } from "../../src/contract/names";
import type { SealDocument, SealedFile } from "../../src/contract/seal";
import { identitiesOf } from "../shared/keystore";
import type { Kit } from "../kit";
import { K, setKit } from "./kit";
import { saveAll, saveFile, shareFile, saveWay, BLOB_MAX } from "./save";

/**
 * A sealed transfer's card (issue 23): the lock, and what its `seal.age` says once this device
 * has opened it: the real message, names and sizes, each file saved under its real name,
 * decrypted as a stream (web/seal/save.ts). `seal.age` is fetched alone (it never counts as a
 * download), opened with every identity this device keeps (current and retired), and checked
 * against the transfer it came with (client/seal openSeal → checkSeal): a seal that does not
 * open or does not match says so, and no name the server shows (`1.age`…) is ever shown as real.
 *
 * A lazy chunk: received-list.ts draws the card's head and foot and hands this module an empty
 * box; the age library (client/seal) loads only here.
 */

type Outcome = { doc: SealDocument } | { error: "no_key" | "cannot_open" | "refused" | "network" };

/** One opening per transfer (a card drawn again reuses it); a network failure or a missing key is forgotten, so the next draw (or Try again) tries anew. */
const opened = new Map<string, Promise<Outcome>>();
/** The status line of a save under way, per transfer and file, kept across redraws of the card. */
const saving = new Map<string, HTMLElement>();
/**
 * Transfers whose last save here failed its check: the server counts the ciphertext it served as
 * delivered, but nothing good was saved, so the card does not say "Downloaded" or "Save again".
 */
export const failedCheck = new Set<string>();
/** The control of a card last used, so that focus comes back to it when the card is drawn again. */
const focusKey = new Map<string, string>();

const WORDS = {
  get lock() { return K.t("open.lock"); },
  get opening() { return K.t("open.opening"); },
  get noKey() { return K.t("open.noKey"); },
  get cannotOpen() { return K.t("open.cannotOpen"); },
  get refused() { return K.t("open.refused"); },
  get fetchFailed() { return K.t("open.fetchFailed"); },
  get retry() { return K.t("open.retry"); },
  get download() { return K.t("received.download"); },
  get saveAgain() { return K.t("received.saveAgain"); },
  get share() { return K.t("received.share"); },
  get copy() { return K.t("received.copy"); },
  tooLarge: (size: string) => K.t("open.tooLarge", { size }),
};

async function openTransfer(t: Transfer, self: string): Promise<Outcome> {
  const seal = t.files[t.files.length - 1];
  if (!seal) return { error: "refused" };
  let identities: Array<CryptoKey | string>;
  try {
    identities = await identitiesOf(self);
  } catch {
    identities = [];
  }
  if (identities.length === 0) return { error: "no_key" };
  let body: ReadableStream<Uint8Array>;
  try {
    const res = await K.app.client.download(seal.downloadUrl ?? K.app.client.filePath(t.id, seal.index));
    if (!res.body) return { error: "network" };
    body = res.body;
  } catch {
    return { error: "network" };
  }
  const lib = await import("../../client/seal");
  try {
    return { doc: await lib.openSeal(body, identities, t) };
  } catch (e) {
    // SealError: it opened but is not this transfer's (or not a seal); else no key of ours opened it
    return { error: e instanceof lib.SealError ? "refused" : "cannot_open" };
  }
}

function opening(t: Transfer, self: string): Promise<Outcome> {
  let p = opened.get(t.id);
  if (!p) {
    p = openTransfer(t, self);
    opened.set(t.id, p);
    // a failed fetch, or no key yet (this device's key is made as the page starts), is tried again on the next draw
    void p.then((o) => "error" in o && (o.error === "network" || o.error === "no_key") && opened.delete(t.id));
  }
  return p;
}

/** The lock, and the sentence that says what it means (and what it does not). */
const lockLine = () => K.h("p", { class: "lock" }, WORDS.lock);

/**
 * Fills `box` for transfer `t`: `canDownload` (live, under the download limit), `downloaded`
 * (this device has it: *Save again*), `self` this device's id, `onSaved` after a save (the card
 * then learns what the server counted).
 */
export async function sealedCard(box: HTMLElement, t: Transfer, canDownload: boolean, downloaded: boolean, self: string | null, onSaved: () => void, kit: Kit): Promise<void> {
  setKit(kit);
  K.fill(box, lockLine(), K.h("p", { class: "muted", role: "status" }, WORDS.opening));
  if (!self) return;
  const outcome = await opening(t, self);
  if ("error" in outcome) {
    const why = { no_key: WORDS.noKey, cannot_open: WORDS.cannotOpen, refused: WORDS.refused, network: WORDS.fetchFailed }[outcome.error];
    K.fill(
      box,
      lockLine(),
      K.h("p", { class: "error", role: "alert" }, why),
      outcome.error === "network" ? K.h("button", { type: "button", class: "small", onclick: () => void sealedCard(box, t, canDownload, downloaded, self, onSaved, kit) }, WORDS.retry) : null,
    );
    return;
  }
  const doc = outcome.doc;
  if (failedCheck.has(t.id)) {
    downloaded = false;
    const note = box.parentElement?.querySelector<HTMLElement>(".done-note");
    if (note) note.hidden = true;
  }
  const one = doc.files.length === 1 ? doc.files[0]! : null;
  const way = saveWay();
  const job = (f: SealedFile) => ({ transfer: t, file: f, self, onSaved, failedCheck });
  const status = (f: SealedFile) => {
    const key = `${t.id}/${f.index}`;
    let el = saving.get(key);
    if (!el) {
      el = K.h("span", { class: "muted save-status", role: "status" });
      saving.set(key, el);
    }
    return el;
  };
  const save = (f: SealedFile) => (ev: Event) => {
    // a redraw of the card (what the server counted) puts focus back on this control
    focusKey.set(t.id, (ev.currentTarget as HTMLElement).dataset.key ?? "");
    void saveFile(job(f), status(f));
  };
  const fits = (f: SealedFile) => way !== "blob" || f.size <= BLOB_MAX;
  const tooLarge = canDownload && doc.files.some((f) => !fits(f)) ? K.h("p", { class: "note" }, WORDS.tooLarge(K.size(BLOB_MAX))) : null;
  K.fill(
    box,
    lockLine(),
    doc.message !== null
      ? K.h(
          "div",
          { class: "message" },
          K.h("p", { class: "text", dir: "auto" }, ...K.linkify(doc.message)),
          K.h("button", { type: "button", class: "quiet small", "data-key": "copy", onclick: (ev: Event) => K.copy(doc.message!, ev.currentTarget as HTMLButtonElement) }, WORDS.copy),
        )
      : null,
    doc.files.length > 1
      ? K.h(
          "ul",
          { class: "files" },
          doc.files.map((f) =>
            K.h(
              "li",
              null,
              canDownload && fits(f)
                ? K.h("button", { type: "button", class: "link save-one", "data-key": `file-${f.index}`, onclick: save(f) }, K.fileName(cleanName(f.name)))
                : K.fileName(cleanName(f.name)),
              K.h("span", { class: "muted nowrap" }, K.size(f.size)),
              status(f),
            ),
          ),
        )
      : one
        ? K.h("p", { class: "single" }, K.fileName(cleanName(one.name)), " ", K.h("span", { class: "muted nowrap" }, K.size(one.size)))
        : null,
    tooLarge,
    // several: Download saves each in turn (as each file's own button does)
    !one && canDownload && doc.files.some(fits)
      ? K.h(
          "div",
          { class: "actions" },
          K.h(
            "button",
            {
              type: "button",
              class: downloaded ? "" : "primary",
              "data-key": "save",
              onclick: (ev: Event) => {
                focusKey.set(t.id, "save");
                ev.preventDefault();
                void saveAll(doc.files.filter(fits).map((f) => [job(f), status(f)] as const));
              },
            },
            downloaded ? WORDS.saveAgain : WORDS.download,
          ),
        )
      : null,
    one && canDownload && fits(one)
      ? K.h(
          "div",
          { class: "actions" },
          K.h("button", { type: "button", class: downloaded ? "" : "primary", "data-key": "save", onclick: save(one) }, downloaded ? WORDS.saveAgain : WORDS.download),
          one.size <= BLOB_MAX && canShare(one) ? K.h("button", { type: "button", "data-key": "share", onclick: () => void shareFile(job(one), status(one)) }, WORDS.share) : null,
          status(one),
        )
      : null,
  );
  // received-list.ts drew the card again and, not finding the control that had focus (this box
  // fills later), focused the card itself: focus goes back to that control
  const li = box.closest("li");
  const key = focusKey.get(t.id);
  if (key && li && document.activeElement === li) box.querySelector<HTMLElement>(`[data-key="${key}"]`)?.focus({ preventScroll: true });
}

/** Whether this browser can hand a file of this type to another app (navigator.share with files). */
function canShare(f: SealedFile): boolean {
  try {
    return typeof navigator.canShare === "function" && navigator.canShare({ files: [new File([], f.name, { type: f.type })] });
  } catch {
    return false;
  }
}
