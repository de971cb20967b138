import type { Transfer } from "../src/contract";
import { fill, h, show } from "./dom";
import { ago, dateTime, idEl, idText, size as fmtSize, until } from "./format";
import { hide, loadHidden } from "./store";
import { fileName } from "./names";
import { linkify } from "./text";
import { kit } from "./kit";

/**
 * The inbox: what others sent to this device, newest first. Each entry names the sender, shows
 * the message (links clickable, a Copy button), one link per file and a Download link (the file
 * itself when there is one, else the package of all of them), and when it expires; once this
 * device has downloaded it, it says so and offers *Save again* while the download limit allows;
 * an expired or cancelled entry says so and loses its links.
 */
import { t as tr } from "./i18n/runtime";
import { bidi } from "./format";

const WORDS = {
  get someone() { return tr("device.someone"); },
  get isNew() { return tr("received.new"); },
  get download() { return tr("received.download"); },
  get saveAgain() { return tr("received.saveAgain"); },
  get share() { return tr("received.share"); },
  get copy() { return tr("received.copy"); },
  get copied() { return tr("received.copied"); },
  get copyFailed() { return tr("received.copyFailed"); },
  get block() { return tr("received.block"); },
  get blocked() { return tr("received.blocked"); },
  get blockFailed() { return tr("received.blockFailed"); },
  blockWho: (who: string) => tr("received.blockLabel", { name: who }),
  get remove() { return tr("received.remove"); },
  get removeLabel() { return tr("received.removeLabel"); },
  zipOf: (n: number, size: string) => tr("received.packageInfo", { count: n, size }),
  get downloaded() { return tr("received.downloaded"); },
  get limitReached() { return tr("received.limitReached"); },
  get expired() { return tr("received.expired"); },
  get cancelled() { return tr("received.cancelled"); },
  expires: (when: string) => tr("received.expires", { when }),
};

export interface InboxHooks {
  /** blocking senders (v1.1 servers); null where the server cannot */
  blocking: () => { self: string; blocked: (id: string) => boolean; block: (from: Transfer["from"]) => Promise<void> } | null;
  /** this device's id (to find its own receipt in `recipients`) */
  self: () => string | null;
  /** whether this device has shown the transfer already */
  isRead: (t: Transfer) => boolean;
  /** an entry was drawn for the first time (to watch whether it is seen) */
  mounted: (id: string, el: HTMLElement) => void;
  /** a link of the entry was used to download (the entry then learns what the server counted) */
  downloading: (id: string) => void;
}
type Ended = "expired" | "cancelled";
interface Entry {
  transfer: Transfer;
  ended: Ended | null;
  el: HTMLLIElement;
}

export class Inbox {
  private readonly entries = new Map<string, Entry>();
  private readonly hidden = loadHidden();

  constructor(
    private readonly list: HTMLUListElement,
    private readonly empty: HTMLElement,
    private readonly hooks: InboxHooks,
  ) {
    setInterval(() => this.refreshTimes(), 30_000);
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  get(id: string): Transfer | null {
    return this.entries.get(id)?.transfer ?? null;
  }

  /** Live entries this device has not shown yet. */
  unread(): Transfer[] {
    return [...this.entries.values()].filter((e) => !e.ended && !this.hooks.isRead(e.transfer)).map((e) => e.transfer);
  }

  /** Updates the "New" mark of an entry in place (no redraw: focus stays where it is). */
  markRead(id: string): void {
    const e = this.entries.get(id);
    if (e) this.setNewMark(e);
  }

  private setNewMark(e: Entry): void {
    const mark = e.el.querySelector<HTMLElement>(".new");
    if (mark) show(mark, !e.ended && !this.hooks.isRead(e.transfer));
  }

  /** The inbox as the server lists it (newest first); entries that ended here stay, saying so. */
  load(transfers: Transfer[]): void {
    for (const t of [...transfers].reverse()) this.add(t, false);
  }

  /** Shows a transfer (a new one goes on top); returns false when it was hidden by the person. */
  add(t: Transfer, fresh = true): boolean {
    if (this.hidden.has(t.id)) return false;
    const old = this.entries.get(t.id);
    const entry: Entry = { transfer: t, ended: old?.ended ?? endedOf(t), el: old?.el ?? h("li", { class: "item", id: `t-${t.id}`, tabindex: "-1" }) };
    this.entries.set(t.id, entry);
    // the same transfer again (the inbox reloaded when the page came back): only its signed
    // links are new; they are swapped in place, so focus and labels stay where they are
    if (old && old.ended === entry.ended && sameView(old.transfer, t)) this.relink(entry);
    else this.render(entry);
    if (!old) {
      this.list.prepend(entry.el);
      this.hooks.mounted(t.id, entry.el);
      if (fresh) {
        entry.el.classList.add("fresh");
        setTimeout(() => entry.el.classList.remove("fresh"), 4000);
      }
    }
    this.updateEmpty();
    return true;
  }

  end(id: string, kind: Ended): void {
    const e = this.entries.get(id);
    if (!e) return;
    e.ended = kind;
    this.render(e);
  }

  /** Scrolls to an entry and moves focus to it (a notification was clicked). */
  focus(id: string): boolean {
    const e = this.entries.get(id);
    if (!e) return false;
    e.el.scrollIntoView({ block: "center", behavior: "smooth" });
    e.el.focus({ preventScroll: true });
    e.el.classList.add("fresh");
    setTimeout(() => e.el.classList.remove("fresh"), 4000);
    return true;
  }

  private remove(id: string): void {
    const e = this.entries.get(id);
    if (!e) return;
    hide(id);
    this.hidden.add(id);
    this.entries.delete(id);
    e.el.remove();
    this.updateEmpty();
  }

  private updateEmpty(): void {
    show(this.empty, this.entries.size === 0);
  }

  /**
   * Every 30 s: the times' words move on in place ("2 min ago", "Expires in 1 h"), so focus,
   * a "Copied" label and a pressed button stay as they are; only an entry that has just
   * expired is drawn again (its links go).
   */
  private refreshTimes(): void {
    for (const e of this.entries.values()) {
      if (!e.ended && Date.parse(e.transfer.expiresAt) <= Date.now()) {
        e.ended = "expired";
        this.render(e);
        continue;
      }
      const time = e.el.querySelector<HTMLElement>("time[data-ago]");
      if (time) time.textContent = ago(e.transfer.createdAt);
      const expires = e.el.querySelector<HTMLElement>("[data-expires]");
      if (expires) expires.textContent = expiresText(e.transfer);
    }
  }

  /** Re-renders every entry (e.g. once the server's settings are known, for the Block button). */
  refresh(): void {
    for (const e of this.entries.values()) this.render(e);
  }

  private blockButton(t: Transfer): HTMLElement | null {
    const blocking = this.hooks.blocking();
    if (!blocking || blocking.self === t.from.id) return null;
    if (blocking.blocked(t.from.id)) return h("span", { class: "muted" }, WORDS.blocked);
    const who = t.from.name ? bidi(t.from.name) : idText(t.from.id);
    return h(
      "button",
      {
        type: "button",
        class: "link small",
        "aria-label": WORDS.blockWho(who),
        onclick: async (ev: Event) => {
          const button = ev.currentTarget as HTMLButtonElement;
          button.disabled = true;
          try {
            await blocking.block(t.from); // re-renders the entries: "Blocked"
          } catch {
            button.disabled = false;
            button.textContent = WORDS.blockFailed;
          }
        },
      },
      WORDS.block,
    );
  }

  /** Points the entry's links at the transfer's current (signed) download URLs. */
  private relink(e: Entry): void {
    const t = e.transfer;
    for (const a of e.el.querySelectorAll<HTMLAnchorElement>("a[data-link]")) {
      const link = a.dataset.link!;
      const url = link === "package" ? t.downloadUrl : t.files[Number(link.replace("file-", ""))]?.downloadUrl;
      if (url) a.href = url;
    }
  }

  private render(e: Entry): void {
    // focus inside the entry stays on the same control (or the entry) when it is drawn again
    const focused = e.el.contains(document.activeElement) ? (document.activeElement as HTMLElement) : null;
    const focusKey = focused?.dataset.link ?? focused?.dataset.key ?? null;
    const t = e.transfer;
    const live = !e.ended;
    const self = this.hooks.self();
    const mine = t.recipients.find((r) => r.id === self);
    const downloaded = Boolean(mine?.downloadedAt);
    const canDownload = t.maxDownloads === null || t.downloads < t.maxDownloads;
    const one = t.files.length === 1 ? t.files[0]! : null;
    // a sealed transfer's files are age files: web/seal/open-card.ts draws what its seal says
    const box = t.sealed && h("div", { class: "sealbox" });
    const primaryUrl = !box && (one ? one.downloadUrl : t.downloadUrl);
    const onDownload = () => this.hooks.downloading(t.id);
    fill(
      e.el,
      h(
        "div",
        { class: "head" },
        h(
          "span",
          { class: "from" },
          h("strong", null, t.from.name ? h("bdi", null, t.from.name) : WORDS.someone),
          " ",
          idEl(t.from.id),
          " ",
          h("span", { class: "new" }, WORDS.isNew),
        ),
        h("time", { class: "muted", datetime: t.createdAt, title: dateTime(t.createdAt), "data-ago": "" }, ago(t.createdAt)),
      ),
      box || [
      t.message
        ? h(
            "div",
            { class: "message" },
            h("p", { class: "text", dir: "auto" }, ...linkify(t.message)),
            h("button", { type: "button", class: "quiet small", "data-key": "copy", onclick: (ev: Event) => copy(t.message!, ev.currentTarget as HTMLButtonElement) }, WORDS.copy),
          )
        : null,
      t.files.length > 1
        ? h(
            "ul",
            { class: "files" },
            t.files.map((f) =>
              h(
                "li",
                null,
                live && f.downloadUrl && canDownload
                  ? h("a", { href: f.downloadUrl, download: "", "data-link": `file-${f.index}`, onclick: onDownload }, fileName(f.name))
                  : fileName(f.name),
                h("span", { class: "muted nowrap" }, fmtSize(f.size)),
              ),
            ),
          )
        : one
          ? h("p", { class: "single" }, fileName(one.name), " ", h("span", { class: "muted nowrap" }, fmtSize(one.size)))
          : null],
      h(
        "div",
        { class: "bottom" },
        live && primaryUrl && canDownload
          ? [
              h(
                "a",
                { class: downloaded ? "button" : "button primary", href: primaryUrl, download: "", "data-link": one ? "file-0" : "package", onclick: onDownload },
                downloaded ? WORDS.saveAgain : WORDS.download,
              ),
              one && canShareFiles(one) ? h("button", { type: "button", "data-key": "share", onclick: () => one.downloadUrl && void import("./received-tools").then((m) => m.shareFile(one.downloadUrl!, one.name, one.type)) }, WORDS.share) : null,
              one ? null : h("span", { class: "muted" }, WORDS.zipOf(t.files.length, fmtSize(t.package?.size ?? t.size))),
            ]
          : null,
        downloaded && e.ended !== "cancelled" ? h("span", { class: "done-note" }, canDownload ? WORDS.downloaded : WORDS.limitReached) : null,
        // (the server ends a transfer whose download limit is used up: said above, not as "expired")
        downloaded && !canDownload && e.ended === "expired"
          ? null
          : h(
              "span",
              e.ended ? { class: "ended" } : { class: "muted", "data-expires": "" },
              e.ended === "expired" ? WORDS.expired : e.ended === "cancelled" ? WORDS.cancelled : expiresText(t),
            ),
        h(
          "span",
          { class: "tools" },
          this.blockButton(t),
          h("button", { type: "button", class: "link small", "data-key": "remove", "aria-label": WORDS.removeLabel, onclick: () => this.remove(t.id) }, WORDS.remove),
        ),
      ),
    );
    if (box) void import("./seal/open-card").then((m) => m.sealedCard(box, t, live && canDownload, downloaded, self, onDownload, kit));
    this.setNewMark(e);
    if (focused && !e.el.contains(document.activeElement)) {
      const again = focusKey ? e.el.querySelector<HTMLElement>(`[data-link="${focusKey}"], [data-key="${focusKey}"]`) : null;
      (again ?? e.el).focus({ preventScroll: true });
    }
  }
}

/** Whether this browser can hand a file of this type to another app (navigator.share with files). */
function canShareFiles(f: Transfer["files"][number]): boolean {
  try {
    return typeof navigator.canShare === "function" && navigator.canShare({ files: [new File([], f.name, { type: f.type })] });
  } catch {
    return false;
  }
}

/** Whether two reads of a transfer show the same (all but the signed links, which change on every read). */
function sameView(a: Transfer, b: Transfer): boolean {
  // (whether there is a link counts: only an existing link can be swapped in place)
  const view = (t: Transfer) => JSON.stringify({ ...t, downloadUrl: t.downloadUrl !== null, files: t.files.map((f) => ({ ...f, downloadUrl: f.downloadUrl !== null })) });
  return view(a) === view(b);
}

const expiresText = (t: Transfer) => WORDS.expires(until(t.expiresAt));

function endedOf(t: Transfer): Ended | null {
  if (t.status === "expired" || Date.parse(t.expiresAt) <= Date.now()) return "expired";
  if (t.status === "cancelled") return "cancelled";
  return null;
}

/** Copies text; the button says "Copied" for a moment (received-tools.ts, loaded when asked). */
export const copy = (text: string, button?: HTMLButtonElement): Promise<boolean> =>
  import("./received-tools").then((m) => m.copy(text, button, WORDS.copied, WORDS.copyFailed));
