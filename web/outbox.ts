import { ApiError, NetworkError, RateMeter, formatBytes, formatDuration, isTransient, resumeUpload, retryDelayMs, uploadFiles, type PushdropClient, type UploadProgress } from "../client";
import type { Transfer } from "../src/contract";
import { formatTerminalId } from "../src/contract/ids";
import { announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { ago, plural } from "./format";
import { dropSent, loadSent, type SentRecord } from "./store";
import { xhrPut } from "./xhr";

/**
 * What this device sent, newest first, each entry live: progress per file and overall with
 * speed and time left while the bytes go up (parts a few at a time; a dropped connection
 * pauses and resumes from what the server has), then the steps uploading → ready → notified →
 * downloaded as the server reports them (polled until every recipient is told, then the
 * receipts arrive on the live channel).
 */
type Phase = "uploading" | "paused" | "interrupted" | "failed" | "sent" | "gone";

const FINAL = new Set(["expired", "cancelled", "failed"]);

export class Outbox {
  private readonly items = new Map<string, OutItem>();

  constructor(
    private readonly client: PushdropClient,
    private readonly list: HTMLUListElement,
    private readonly heading: HTMLElement,
  ) {
    window.addEventListener("online", () => {
      for (const it of this.items.values()) it.resumeSoon(0);
    });
  }

  /** Shows what was sent before this page load, as the server sees it now. */
  async restore(): Promise<void> {
    const records = loadSent().slice(0, 20);
    for (const r of [...records].reverse()) this.mount(new OutItem(this.client, r, null, null, () => this.drop(r.id)));
    await Promise.all([...this.items.values()].map((it) => it.refresh()));
  }

  /** A transfer just created: its bytes go up now. */
  start(record: SentRecord, transfer: Transfer, sources: File[]): void {
    const it = new OutItem(this.client, record, transfer, sources, () => this.drop(record.id));
    this.mount(it);
    void it.upload(true);
  }

  receipt(transferId: string, by: string, at: string): boolean {
    const it = this.items.get(transferId);
    if (!it) return false;
    it.receipt(by, at);
    return true;
  }

  failed(transferId: string, reason: string): boolean {
    return this.items.get(transferId)?.fail(reason) ?? false;
  }

  ended(transferId: string, status: "expired" | "cancelled"): boolean {
    return this.items.get(transferId)?.end(status) ?? false;
  }

  /** Bytes still to go up: closing the page now would interrupt them. */
  get busy(): boolean {
    return [...this.items.values()].some((it) => it.uploading);
  }

  refreshAll(): void {
    for (const it of this.items.values()) if (!it.settled) void it.refresh();
  }

  focus(id: string): boolean {
    const it = this.items.get(id);
    if (!it) return false;
    it.el.scrollIntoView({ block: "center", behavior: "smooth" });
    it.el.focus({ preventScroll: true });
    return true;
  }

  private mount(it: OutItem): void {
    this.items.set(it.record.id, it);
    this.list.prepend(it.el);
    show(this.heading, true);
    show(this.list, true);
  }

  private drop(id: string): void {
    this.items.get(id)?.el.remove();
    this.items.delete(id);
    dropSent(id);
    show(this.heading, this.items.size > 0);
    show(this.list, this.items.size > 0);
  }
}

class OutItem {
  readonly el: HTMLLIElement;
  private phase: Phase;
  private error = "";
  private progress: UploadProgress | null = null;
  private readonly meter = new RateMeter();
  private abort: AbortController | null = null;
  private frame = 0;
  private pollTimer: ReturnType<typeof setTimeout> | undefined;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  /** pauses in a row with no byte sent in between (the wait grows with them) */
  private retries = 0;
  private pollUntil = 0;
  private readonly steps: HTMLOListElement;
  private readonly bars: HTMLElement;
  private readonly status: HTMLElement;
  private readonly actions: HTMLElement;

  constructor(
    private readonly client: PushdropClient,
    readonly record: SentRecord,
    private transfer: Transfer | null,
    private sources: File[] | null,
    private readonly remove: () => void,
  ) {
    this.phase = transfer ? "uploading" : "sent";
    const to = record.to.map((r) => [h("strong", null, r.name || formatTerminalId(r.id)), " ", h("span", { class: "muted nowrap" }, formatTerminalId(r.id))]);
    const what = [
      record.files.length ? `${plural(record.files.length, "file")} · ${formatBytes(record.files.reduce((s, f) => s + f.size, 0))}` : "Message",
      record.message ? ` · “${oneLine(record.message)}”` : "",
    ].join("");
    this.steps = h("ol", { class: "steps", "aria-label": "Progress" });
    this.bars = h("div", { class: "bars" });
    this.status = h("p", { class: "status", role: "status" });
    this.actions = h("div", { class: "actions" });
    this.el = h(
      "li",
      { class: "item out", id: `o-${record.id}`, tabindex: "-1" },
      h("div", { class: "head" }, h("span", { class: "to" }, "To ", ...joinWith(to, ", ")), h("time", { class: "muted", datetime: record.at }, ago(record.at))),
      h("p", { class: "what muted" }, what),
      this.steps,
      this.bars,
      this.status,
      this.actions,
    );
    this.render();
  }

  get uploading(): boolean {
    return this.phase === "uploading" || this.phase === "paused";
  }

  /** Nothing left to watch: the transfer ended, or every recipient has it. */
  get settled(): boolean {
    const t = this.transfer;
    return this.phase === "gone" || this.phase === "failed" || (t !== null && (FINAL.has(t.status) || t.status === "delivered"));
  }

  /** Sends the bytes: all of them for a transfer just created (`fresh`), else what the server lacks. */
  async upload(fresh = false): Promise<void> {
    if (!this.sources || !this.transfer) return;
    clearTimeout(this.retryTimer);
    this.abort = new AbortController();
    this.phase = "uploading";
    this.error = "";
    this.render();
    const opts = {
      concurrency: 3,
      // a part is tried 3 times (waits of 1 s, 2 s); then the item pauses and resumes from the
      // server's partsReceived, again and again, as long as the page is open
      tries: 3,
      put: xhrPut,
      signal: this.abort.signal,
      onProgress: (p: UploadProgress) => {
        // bytes moved again: the next pause starts from the shortest wait
        if (p.sent > (this.progress?.sent ?? 0)) this.retries = 0;
        this.progress = p;
        this.meter.sample(p.sent, performance.now());
        this.scheduleFrame();
      },
    };
    try {
      const res = fresh
        ? await uploadFiles(this.client, this.transfer, this.sources, opts)
        : await resumeUpload(this.client, this.transfer.id, this.sources, opts);
      this.transfer = { ...this.transfer, status: res.status };
      this.phase = "sent";
      this.sources = null;
      this.render();
      announce(`Uploaded. ${this.record.to.length > 1 ? "The recipients are" : "The recipient is"} being told.`);
      this.poll(120_000);
    } catch (e) {
      if (this.abort.signal.aborted && this.phase !== "uploading") return; // cancelled here
      if (isTransient(e)) {
        this.phase = "paused";
        this.error = e instanceof NetworkError ? "" : plainError(e);
        this.render();
        // what the server asks for (429, 503 with Retry-After), or a wait that doubles up to 30 s
        const backoff = Math.min(30_000, 2000 * 2 ** this.retries++);
        this.resumeSoon(retryDelayMs(e, backoff));
      } else {
        this.phase = "failed";
        this.error = plainError(e);
        this.render();
      }
    }
  }

  /** After a dropped connection: try again in `ms` (at once when the browser says it is online). */
  resumeSoon(ms: number): void {
    if (this.phase !== "paused") return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (navigator.onLine === false) return this.resumeSoon(5000);
      void this.upload();
    }, ms);
  }

  /** Asks the server where the transfer stands. */
  async refresh(): Promise<void> {
    try {
      this.transfer = await this.client.transfer(this.record.id);
      if (this.transfer.status === "uploading" && !this.sources && this.phase === "sent") this.phase = "interrupted";
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 410 || e.status === 403)) {
        this.phase = "gone";
      } else {
        this.error = plainError(e);
      }
    }
    this.render();
  }

  /** Polls until every recipient has been told (or `ms` passed); receipts come on the socket. */
  poll(ms: number): void {
    this.pollUntil = Date.now() + ms;
    const tick = async () => {
      await this.refresh();
      const t = this.transfer;
      const told = t !== null && (t.status === "ready" || t.status === "delivered") && t.recipients.every((r) => r.notifiedAt);
      if (told || this.settled || Date.now() > this.pollUntil) return;
      this.pollTimer = setTimeout(tick, 1000);
    };
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(tick, 300);
  }

  receipt(by: string, at: string): void {
    const t = this.transfer;
    if (!t) return void this.refresh();
    const recipients = t.recipients.map((r) => (r.id === by ? { ...r, downloadedAt: r.downloadedAt ?? at, notifiedAt: r.notifiedAt ?? at } : r));
    const all = recipients.every((r) => r.downloadedAt);
    this.transfer = { ...t, recipients, status: all ? "delivered" : t.status };
    this.render();
    announce(`${this.nameOf(by)} ${t.files.length ? "downloaded" : "has seen"} what you sent.`);
  }

  fail(reason: string): boolean {
    if (this.transfer) this.transfer = { ...this.transfer, status: "failed", failure: reason };
    this.render();
    return true;
  }

  end(status: "expired" | "cancelled"): boolean {
    if (this.transfer) this.transfer = { ...this.transfer, status };
    else this.phase = "gone";
    this.render();
    return true;
  }

  private async cancel(): Promise<void> {
    this.phase = "failed";
    this.abort?.abort(new DOMException("Cancelled", "AbortError"));
    clearTimeout(this.retryTimer);
    clearTimeout(this.pollTimer);
    try {
      await this.client.cancel(this.record.id);
      this.error = "";
      if (this.transfer) this.transfer = { ...this.transfer, status: "cancelled" };
    } catch (e) {
      this.error = plainError(e);
    }
    this.render();
  }

  /** After a reload the files are gone from memory: picking the same files again resumes. */
  private pickAgain(): void {
    const input = h("input", { type: "file", multiple: true, class: "sr" });
    input.addEventListener("change", () => {
      const files = [...(input.files ?? [])];
      input.remove();
      const t = this.transfer;
      if (!t) return;
      const byName = new Map(files.map((f) => [`${f.name}\u0000${f.size}`, f]));
      const sources = this.record.files.map((f) => byName.get(`${f.name}\u0000${f.size}`));
      if (sources.some((s) => !s)) {
        this.error = "Those are not the same files (names and sizes must match).";
        return this.render();
      }
      this.sources = sources as File[];
      void this.upload(); // (parts may be on the server already: resume from them)
    });
    document.body.append(input);
    input.click();
  }

  private nameOf(id: string): string {
    return this.record.to.find((r) => r.id === id)?.name || formatTerminalId(id);
  }

  private scheduleFrame(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.renderBars();
      this.setStatus();
    });
  }

  private render(): void {
    this.renderSteps();
    this.renderBars();
    this.setStatus();
    this.status.classList.toggle("error", this.phase === "failed" || this.phase === "paused" || this.transfer?.status === "failed");
    const buttons: HTMLElement[] = [];
    const t = this.transfer;
    const open = t !== null && !FINAL.has(t.status) && t.status !== "delivered" && this.phase !== "gone";
    if (this.phase === "paused") buttons.push(h("button", { type: "button", onclick: () => void this.upload() }, "Retry now"));
    if (this.phase === "interrupted") buttons.push(h("button", { type: "button", onclick: () => this.pickAgain() }, "Choose the files again"));
    if (open && this.phase !== "failed") buttons.push(h("button", { type: "button", class: "quiet", onclick: () => void this.cancel() }, "Cancel"));
    if (!open || this.phase === "failed") buttons.push(h("button", { type: "button", class: "link small", "aria-label": "Remove from this list", onclick: this.remove }, "Remove"));
    fill(this.actions, ...buttons);
  }

  private renderSteps(): void {
    const t = this.transfer;
    const message = this.record.files.length === 0;
    const n = this.record.to.length;
    const count = (f: (r: Transfer["recipients"][number]) => unknown) => t?.recipients.filter(f).length ?? 0;
    const ready = t !== null && (t.status === "ready" || t.status === "delivered");
    const notified = count((r) => r.notifiedAt);
    const downloaded = t?.status === "delivered" ? n : count((r) => r.downloadedAt);
    const ofN = (k: number) => (n > 1 && k > 0 && k < n ? ` ${k}/${n}` : "");
    const steps: Array<[string, boolean]> = [
      [message ? "Sent" : "Uploading", t !== null && t.status !== "uploading"],
      [t?.status === "packaging" ? "Packing" : "Ready", ready],
      [`Notified${ofN(notified)}`, ready && notified === n],
      [`${message ? "Seen" : "Downloaded"}${ofN(downloaded)}`, downloaded === n],
    ];
    const current = steps.findIndex(([, done]) => !done);
    fill(
      this.steps,
      steps.map(([label, done], i) =>
        h("li", { class: done ? "done" : i === current ? "current" : "todo", "aria-current": i === current && !this.settled ? "step" : null }, label),
      ),
    );
  }

  private renderBars(): void {
    const p = this.progress;
    const uploading = this.phase === "uploading" || this.phase === "paused";
    if (!uploading || !p || !this.transfer) {
      if (this.bars.childElementCount) this.bars.replaceChildren();
      return;
    }
    const left = this.meter.secondsLeft(p.total - p.sent);
    const rate = this.meter.bytesPerSecond;
    const stats = `${formatBytes(p.sent)} of ${formatBytes(p.total)}${rate > 0 && this.phase === "uploading" ? ` · ${formatBytes(rate)}/s · ${formatDuration(left)} left` : ""}`;
    if (!this.bars.childElementCount) {
      fill(
        this.bars,
        h("progress", { class: "overall", max: String(Math.max(1, p.total)), "aria-label": "All files" }),
        h("p", { class: "stats muted" }),
        this.transfer.files.length > 1
          ? h(
              "ul",
              { class: "perfile" },
              this.transfer.files.map((f) => h("li", null, h("span", { class: "name" }, f.name), h("progress", { max: String(Math.max(1, f.size)), "aria-label": f.name }), h("span", { class: "pct muted" }))),
            )
          : null,
      );
    }
    const [overall, statsEl, list] = [...this.bars.children] as [HTMLProgressElement, HTMLElement, HTMLUListElement | undefined];
    overall.value = p.sent;
    statsEl.textContent = stats;
    if (list) {
      [...list.children].forEach((li, i) => {
        const f = this.transfer!.files[i]!;
        const bar = li.querySelector("progress")!;
        const sent = p.files[i] ?? 0;
        bar.value = sent;
        li.querySelector(".pct")!.textContent = f.size === 0 || p.done.has(i) ? "✓" : `${Math.floor((sent / f.size) * 100)}%`;
      });
    }
  }

  /** The status line is a live region: it changes only when its words do. */
  private setStatus(): void {
    const text = this.statusText();
    if (this.status.textContent !== text) this.status.textContent = text;
  }

  private statusText(): string {
    const t = this.transfer;
    const names = this.record.to.map((r) => r.name || formatTerminalId(r.id)).join(", ");
    switch (this.phase) {
      case "paused":
        if (this.error) return `${this.error} Retrying…`;
        return navigator.onLine === false ? "Offline. Sending resumes when you are back online." : "The connection dropped. Resuming where it stopped…";
      case "failed":
        return this.error || "Cancelled.";
      case "gone":
        return "Expired: no longer on the server.";
      case "interrupted":
        return "The upload was interrupted when the page closed. Choose the same files again to resume where it stopped.";
      case "uploading":
        return this.progress && this.progress.total > 0 ? "Uploading…" : "Starting…";
    }
    if (!t) return this.error;
    switch (t.status) {
      case "uploading":
        return "Uploading…";
      case "packaging":
        return "Packing the files…";
      case "expired":
        return "Expired.";
      case "cancelled":
        return "Cancelled.";
      case "failed":
        return `Failed: ${t.failure ?? "the server could not pack the files"}.`;
      case "delivered":
        return `${names} ${t.files.length ? (this.record.to.length > 1 ? "downloaded it. Delivered." : "downloaded it.") : "has seen it."}`;
    }
    const waiting = t.recipients.filter((r) => !r.notifiedAt);
    const downloaded = t.recipients.filter((r) => r.downloadedAt);
    if (downloaded.length) return `${downloaded.map((r) => this.nameOf(r.id)).join(", ")} ${t.files.length ? "downloaded it" : "has seen it"}; waiting for the others.`;
    if (waiting.length === 0) {
      const push = t.recipients.every((r) => r.channel === "push");
      return `${names} ${this.record.to.length > 1 ? "were" : "was"} notified${push ? " by a notification" : ", live"}.`;
    }
    return `Ready. ${waiting.map((r) => this.nameOf(r.id)).join(", ")} will be told when online.`;
  }
}

function oneLine(s: string, max = 60): string {
  const line = s.trim().split(/\r?\n/)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function joinWith<T>(parts: T[][], sep: string): Array<T | string> {
  return parts.flatMap((p, i) => (i === 0 ? p : [sep, ...p]));
}
