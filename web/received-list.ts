import { formatBytes } from "../client/rate";
import type { Transfer } from "../src/contract";
import { formatTerminalId } from "../src/contract/ids";
import { fill, h, show } from "./dom";
import { ago, until } from "./format";
import { hide, loadHidden } from "./store";
import { linkify } from "./text";

/**
 * The inbox: what others sent to this device, newest first. Each entry names the sender, shows
 * the message (links clickable, a Copy button), one link per file and a Download link for the
 * whole package, and when it expires; an expired or cancelled entry says so and loses its links.
 */
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
    /** blocking senders (v1.1 servers); null where the server cannot */
    private readonly blocking: () => { self: string; blocked: (id: string) => boolean; block: (from: Transfer["from"]) => Promise<void> } | null,
  ) {
    setInterval(() => this.refreshTimes(), 30_000);
  }

  has(id: string): boolean {
    return this.entries.has(id);
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
    const blocking = this.blocking();
    if (!blocking || blocking.self === t.from.id) return null;
    if (blocking.blocked(t.from.id)) return h("span", { class: "muted" }, "Blocked");
    const who = t.from.name || formatTerminalId(t.from.id);
    return h(
      "button",
      {
        type: "button",
        class: "link small",
        "aria-label": `Block ${who}`,
        onclick: async (ev: Event) => {
          const button = ev.currentTarget as HTMLButtonElement;
          button.disabled = true;
          try {
            await blocking.block(t.from); // re-renders the entries: "Blocked"
          } catch {
            button.disabled = false;
            button.textContent = "Block failed";
          }
        },
      },
      "Block",
    );
  }

  /** Points the entry's links at the transfer's current (signed) download URLs. */
  private relink(e: Entry): void {
    const t = e.transfer;
    const pkg = e.el.querySelector<HTMLAnchorElement>("a[data-link=package]");
    if (pkg && t.downloadUrl) pkg.href = t.downloadUrl;
    t.files.forEach((f) => {
      const a = e.el.querySelector<HTMLAnchorElement>(`a[data-link="file-${f.index}"]`);
      if (a && f.downloadUrl) a.href = f.downloadUrl;
    });
  }

  private render(e: Entry): void {
    const t = e.transfer;
    const live = !e.ended;
    const total = t.package?.size ?? t.size;
    fill(
      e.el,
      h(
        "div",
        { class: "head" },
        h("span", { class: "from" }, h("strong", null, t.from.name || "Someone"), " ", h("span", { class: "muted nowrap" }, formatTerminalId(t.from.id))),
        h("time", { class: "muted", datetime: t.createdAt, title: new Date(t.createdAt).toLocaleString(), "data-ago": "" }, ago(t.createdAt)),
      ),
      t.message
        ? h(
            "div",
            { class: "message" },
            h("p", { class: "text" }, ...linkify(t.message)),
            h("button", { type: "button", class: "quiet small", onclick: (ev: Event) => copy(t.message!, ev.currentTarget as HTMLButtonElement) }, "Copy"),
          )
        : null,
      t.files.length > 0
        ? h(
            "ul",
            { class: "files" },
            t.files.map((f) =>
              h(
                "li",
                null,
                live && f.downloadUrl ? h("a", { href: f.downloadUrl, download: "", "data-link": `file-${f.index}` }, f.name) : h("span", null, f.name),
                " ",
                h("span", { class: "muted nowrap" }, formatBytes(f.size)),
              ),
            ),
          )
        : null,
      h(
        "div",
        { class: "bottom" },
        live && t.downloadUrl
          ? [h("a", { class: "button primary", href: t.downloadUrl, download: "", "data-link": "package" }, "Download"), h("span", { class: "muted" }, `${t.files.length > 1 ? `all ${t.files.length} files` : "the file"}, ZIP, ${formatBytes(total)}`)]
          : null,
        h(
          "span",
          e.ended ? { class: "ended" } : { class: "muted", "data-expires": "" },
          e.ended === "expired"
            ? "Expired: the files are gone."
            : e.ended === "cancelled"
              ? "The sender cancelled this."
              : expiresText(t),
        ),
        h(
          "span",
          { class: "tools" },
          this.blockButton(t),
          h("button", { type: "button", class: "link small", "aria-label": "Remove from this list", onclick: () => this.remove(t.id) }, "Remove"),
        ),
      ),
    );
  }
}

/** Whether two reads of a transfer show the same (all but the signed links, which change on every read). */
function sameView(a: Transfer, b: Transfer): boolean {
  // (whether there is a link counts: only an existing link can be swapped in place)
  const view = (t: Transfer) => JSON.stringify({ ...t, downloadUrl: t.downloadUrl !== null, files: t.files.map((f) => ({ ...f, downloadUrl: f.downloadUrl !== null })) });
  return view(a) === view(b);
}

const expiresText = (t: Transfer) => `Expires ${until(t.expiresAt)}`;

function endedOf(t: Transfer): Ended | null {
  if (t.status === "expired" || Date.parse(t.expiresAt) <= Date.now()) return "expired";
  if (t.status === "cancelled") return "cancelled";
  return null;
}

/** Copies text; the button says "Copied" for a moment. */
export async function copy(text: string, button?: HTMLButtonElement): Promise<boolean> {
  let ok = false;
  try {
    await navigator.clipboard.writeText(text);
    ok = true;
  } catch {
    // older browsers, or no permission: the selection way
    const area = h("textarea", { class: "sr", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    area.remove();
  }
  if (button) {
    const label = button.textContent;
    button.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => (button.textContent = label), 2000);
  }
  return ok;
}
