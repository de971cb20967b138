import { ApiError, type PushdropClient } from "../client";
import type { Waiting } from "../src/contract";
import { idEl, idText, size } from "./format";
import { bidi } from "./format";
import { t } from "./i18n/runtime";
import { $, announce, fill, h, show } from "./dom";
import { plainError } from "./errors";

/**
 * The terminal's settings on a v1.1 server (GET/PATCH …/settings, …/contacts, …/blocked): its
 * name, who may send to it ("anyone" or "known"), its contacts and the senders it blocked. On
 * an older server every call answers 404/405: `available` stays false, the name and the
 * remembered devices are kept in the browser only, and the privacy controls stay hidden.
 */
export interface ServerSettings {
  name: string;
  accept: "anyone" | "known";
  contacts: Array<{ id: string; name: string }>;
  blocked: Array<{ id: string; name: string }>;
  /** v1.2: bytes held for this device (received by the server, not yet downloaded), and how many of them are still uploading */
  waiting?: Waiting;
}

const waitingWords = (w: Waiting) =>
  w.uploading > 0 ? t("me.waitingUploading", { size: size(w.bytes), uploading: size(w.uploading) }) : t("me.waiting", { size: size(w.bytes) });

/** A server without the endpoint (not an error of this request). */
const unsupported = (e: unknown) => e instanceof ApiError && (e.code === "not_found" || e.code === "method_not_allowed");

export class Settings {
  data: ServerSettings | null = null;
  /**
   * Changes asked of the server, and how many are unanswered. This device asks for the settings
   * each time it is shown, and a person can choose before the answer comes: drawn, that answer
   * would undo the choice on screen. A load's answer is drawn only when no change was asked
   * since it was asked, nor was under way then.
   */
  private asked = 0;
  private pending = 0;

  constructor(
    private readonly client: PushdropClient,
    private readonly terminalId: string,
    /** the ids of the devices this browser remembers (they become contacts for accept: "known") */
    private readonly remembered: () => string[],
    private readonly onChange: (s: ServerSettings) => void,
  ) {
    for (const input of document.querySelectorAll<HTMLInputElement>('input[name="accept"]')) {
      input.addEventListener("change", () => input.checked && void this.setAccept(input.value as ServerSettings["accept"]));
    }
  }

  get available(): boolean {
    return this.data !== null;
  }

  private path(rest = ""): string {
    return `/v1/terminals/${this.terminalId}${rest}`;
  }

  async load(): Promise<ServerSettings | null> {
    const at = this.pending ? -1 : this.asked;
    try {
      const s = await this.client.call<ServerSettings>(this.path("/settings"));
      if (at === this.asked) this.set(s);
    } catch {
      // an older server, or offline: what the browser keeps will do
    }
    return this.data;
  }

  /** Renames on the server; false when the server cannot rename (older than v1.1). */
  async rename(name: string): Promise<boolean> {
    try {
      this.set(await this.change<ServerSettings>("/settings", "PATCH", { name }));
      return true;
    } catch (e) {
      if (unsupported(e)) return false;
      throw e;
    }
  }

  async block(id: string, name: string): Promise<void> {
    await this.change(`/blocked/${id}`, "PUT");
    if (this.data) this.set({ ...this.data, blocked: [{ id, name }, ...this.data.blocked.filter((b) => b.id !== id)] });
    announce(t("privacy.isBlocked", { name: name ? bidi(name) : idText(id) }));
  }

  async forgetContact(id: string): Promise<void> {
    if (!this.available) return;
    await this.change(`/contacts/${id}`, "DELETE").catch(() => {});
  }

  private async unblock(id: string): Promise<void> {
    try {
      await this.change(`/blocked/${id}`, "DELETE");
      if (this.data) this.set({ ...this.data, blocked: this.data.blocked.filter((b) => b.id !== id) });
      this.say(t("privacy.unblocked"));
    } catch (e) {
      this.say(plainError(e));
    }
  }

  private async setAccept(accept: ServerSettings["accept"]): Promise<void> {
    try {
      if (accept === "known") {
        // the devices listed under Recipient are the ones the person knows: the server learns them first
        await Promise.all(this.remembered().map((id) => this.change(`/contacts/${id}`, "PUT").catch(() => {})));
      }
      this.set(await this.change<ServerSettings>("/settings", "PATCH", { accept }));
      this.say(t(accept === "known" ? "privacy.nowKnown" : "privacy.nowAnyone"));
    } catch (e) {
      this.say(plainError(e));
      if (this.data) this.render();
    }
  }

  /** One change of the settings on the server (see `asked`). */
  private async change<T = unknown>(rest: string, method: string, json?: object): Promise<T> {
    this.asked++;
    this.pending++;
    try {
      return await this.client.call<T>(this.path(rest), { method, json });
    } finally {
      this.pending--;
    }
  }

  private say(text: string): void {
    $("privacy-state").textContent = text;
  }

  private set(s: ServerSettings): void {
    this.data = s;
    this.render();
    this.onChange(s);
  }

  private render(): void {
    const s = this.data;
    show($("privacy"), s !== null);
    const waiting = $("waiting-state");
    waiting.textContent = s?.waiting && s.waiting.bytes > 0 ? waitingWords(s.waiting) : "";
    show(waiting, Boolean(s?.waiting && s.waiting.bytes > 0));
    if (!s) return;
    for (const input of document.querySelectorAll<HTMLInputElement>('input[name="accept"]')) input.checked = input.value === s.accept;
    const list = $<HTMLUListElement>("blocked");
    show($("blocked-h"), s.blocked.length > 0);
    fill(
      list,
      s.blocked.map((b) =>
        h(
          "li",
          null,
          h("span", null, b.name ? h("bdi", null, b.name) : t("device.unnamed"), " ", idEl(b.id)),
          h("button", { type: "button", class: "link small", "aria-label": t("privacy.unblockLabel", { name: b.name ? bidi(b.name) : idText(b.id) }), onclick: () => void this.unblock(b.id) }, t("privacy.unblock")),
        ),
      ),
    );
  }
}
