import { ApiError, NetworkError, RateMeter, formatDuration, isTransient, retryDelayMs, uploadFiles, type PushdropClient, type PutFn, type UploadProgress } from "../client";
import type { CreateTransferRequest, Transfer } from "../src/contract";
import { announce, fill, h, show } from "./dom";
import { plainError } from "./errors";
import { ago, bidi, idEl, idText, names as listNames, size as fmtSize } from "./format";
import { formatNumber, formatTerminalIdAscii } from "./i18n/format";
import { currentLanguage, t as tr } from "./i18n/runtime";
import { fileName } from "./names";
import { dropSent, dropWaiting, loadSent, loadWaiting, recordSent, recordWaiting, type SentRecord, type WaitingRecord } from "./store";
import { xhrPut } from "./xhr";

/**
 * What this device sent, newest first, each entry live: progress per file and overall with
 * speed and time left while the bytes go up (parts a few at a time; a dropped connection
 * pauses and resumes from what the server has), then the steps uploading → ready → notified →
 * downloaded as the server reports them (polled until every recipient is told, then the
 * receipts arrive on the live channel).
 */
type Phase = "uploading" | "paused" | "interrupted" | "failed" | "sent" | "gone";

const WORDS = {
  get message() { return tr("sent.messageOnly"); },
  get progress() { return tr("sent.progress"); },
  get allFiles() { return tr("sent.allFiles"); },
  get uploading() { return tr("sent.stepUploading"); },
  get packing() { return tr("sent.stepPacking"); },
  get ready() { return tr("sent.stepReady"); },
  get sent() { return tr("sent.stepSent"); },
  notified: (done: number, all: number) => (all > 1 && done > 0 && done < all ? tr("sent.stepNotifiedOf", { done, all }) : tr("sent.stepNotified")),
  delivered: (done: number, all: number) => (all > 1 && done > 0 && done < all ? tr("sent.stepDeliveredOf", { done, all }) : tr("sent.stepDelivered")),
  opened: (done: number, all: number) => (all > 1 && done > 0 && done < all ? tr("sent.stepOpenedOf", { done, all }) : tr("sent.stepOpened")),
  downloaded: (done: number, all: number) => (all > 1 && done > 0 && done < all ? tr("sent.stepDownloadedOf", { done, all }) : tr("sent.stepDownloaded")),
  get retryNow() { return tr("sent.retryNow"); },
  get chooseAgain() { return tr("sent.chooseAgain"); },
  get cancel() { return tr("sent.cancel"); },
  get remove() { return tr("sent.remove"); },
  get removeLabel() { return tr("sent.removeLabel"); },
  what: (count: number, bytes: string) => tr("sent.what", { count, size: bytes }),
  quote: (text: string) => tr("sent.quote", { text }),
  stored: (kept: string, total: string) => tr("sent.stored", { kept, total }),
  onTheWay: (bytes: string) => tr("sent.onTheWay", { size: bytes }),
  rate: (rate: string, left: string) => tr("sent.rate", { rate, left }),
  retrying: (why: string) => tr("sent.retrying", { error: why }),
  get offline() { return tr("sent.offline"); },
  get dropped() { return tr("sent.dropped"); },
  get cancelled() { return tr("sent.cancelled"); },
  get gone() { return tr("sent.expiredGone"); },
  get interrupted() { return tr("sent.interrupted"); },
  get uploadingNow() { return tr("sent.uploading"); },
  get starting() { return tr("sent.starting"); },
  get packingNow() { return tr("sent.packing"); },
  get expired() { return tr("sent.expired"); },
  failed: (why: string) => tr("sent.failed", { reason: why }),
  get packFailed() { return tr("sent.failedUnknown"); },
  uploaded: (many: boolean) => tr("sent.uploaded", { recipients: many ? 2 : 1 }),
  allDownloaded: (names: string) => tr("sent.downloadedBy", { names }),
  someDownloaded: (names: string) => tr("sent.someDownloaded", { names }),
  openedNotDownloaded: (names: string) => tr("sent.openedNotDownloaded", { names }),
  textOpened: (names: string) => tr("sent.textOpened", { names }),
  textDelivered: (names: string) => tr("sent.textDelivered", { names }),
  notifiedLive: (names: string, many: boolean) => tr("sent.notifiedLive", { count: many ? 2 : 1, names }),
  notifiedPush: (names: string, many: boolean) => tr("sent.notifiedPush", { count: many ? 2 : 1, names }),
  toldWhenOnline: (names: string) => tr("sent.readyWaiting", { names }),
  receiptDownloaded: (who: string) => tr("sent.announceDownloaded", { name: who }),
  receiptDelivered: (who: string) => tr("sent.announceDelivered", { name: who }),
  receiptOpened: (who: string) => tr("sent.announceOpened", { name: who }),
  get waiting() { return tr("sent.waiting"); },
  get waitingTry() { return tr("sent.waitingTry"); },
  get lost() { return tr("sent.lost"); },
  get lostText() { return tr("sent.lostText"); },
  refused: (why: string) => tr("sent.refused", { error: why }),
  get notTheSame() { return tr("sent.notSameFiles"); },
};

/** "To {names}" with the names as elements: the sentence from the catalog, the elements where {names} is. */
function toLine(people: Array<{ id: string; name?: string | null }>): Array<Node | string> {
  const MARK = "\u0000";
  const [before = "", after = ""] = tr("sent.to", { names: MARK }).split(MARK);
  const list = people.map((r) => [h("strong", null, h("bdi", null, r.name || formatTerminalIdAscii(r.id))), " ", idEl(r.id)]);
  return [before, ...joinWith(list, tr("sent.namesSeparator")), after];
}

/** "3 files · 2.1 MB · “a note”" (after a lock when sealed) */
function whatLine(r: { files: SentRecord["files"]; message: string | null; sealed?: SentRecord["sealed"] }): string {
  return [
    r.sealed ? tr("seal.sealedTag") : "",
    r.files.length ? WORDS.what(r.files.length, fmtSize(r.files.reduce((s, f) => s + f.size, 0))) : WORDS.message,
    r.message ? WORDS.quote(bidi(oneLine(r.message))) : "",
  ]
    .filter(Boolean)
    .join(" · ");
}

const FINAL = new Set(["expired", "cancelled", "failed"]);

export class Outbox {
  private readonly items = new Map<string, OutItem>();
  private readonly waiting = new Map<string, WaitingItem>();

  constructor(
    private readonly client: PushdropClient,
    private readonly list: HTMLUListElement,
    private readonly heading: HTMLElement,
  ) {
    window.addEventListener("online", () => this.wake());
  }

  /** The connection is back (the browser says so, or the live channel opened): what waits goes now. */
  wake(): void {
    for (const it of this.items.values()) it.resumeSoon(0);
    for (const w of this.waiting.values()) w.tryNow();
  }

  /**
   * Shows what was sent before this page load, as the server sees it now, and what was
   * waiting for a connection when the page closed (lost: the files were only in that page).
   */
  async restore(): Promise<void> {
    const records = loadSent().slice(0, 20);
    for (const r of [...records].reverse()) this.mount(new OutItem(this.client, r, null, null, () => this.drop(r.id)));
    for (const w of loadWaiting()) {
      if (this.waiting.has(w.key)) continue;
      // a sealed send whose sealed copy is still in the spool waits again (send.ts sets `again`)
      if (w.sealed?.again && this.again) void this.again(w).catch(() => false).then((ok) => ok || this.lost(w));
      else this.lost(w);
    }
    this.showHeading();
    // spools no sent or waiting record names (a page closed while sealing) go
    const spools = new Set([...loadSent(), ...loadWaiting()].map((r) => r.sealed?.spool ?? ""));
    void import("./seal/spool").then((m) => m.sweepSpools(spools));
    await Promise.all([...this.items.values()].map((it) => it.refresh()));
  }

  /** Makes a sealed send that was waiting when the page closed wait again from its spool (false: its spool is gone). */
  again?: (w: WaitingRecord) => Promise<boolean>;

  private lost(w: WaitingRecord): void {
    const el = lostCard(w, () => {
      el.remove();
      dropWaiting(w.key);
      this.showHeading();
    });
    this.list.append(el);
    this.showHeading();
  }

  /** Creates the transfer and sends its bytes; without a connection it waits (false). */
  async create(req: CreateTransferRequest, to: SentRecord["to"], files: File[]): Promise<boolean> {
    // one key for this send, sent again with every retry: a create whose answer was lost is
    // answered with the transfer it made, never made twice (Idempotency-Key, v1.2)
    const once = sendKey();
    try {
      const transfer = await this.client.createTransfer(req, { idempotencyKey: once });
      this.started(transfer, to, files, req.message ?? null);
      return true;
    } catch (e) {
      if (!waitable(e)) throw e;
      this.wait(req, to, files, once);
      return false;
    }
  }

  /**
   * A send that could not reach the server: kept here (and noted in the browser) until it can.
   * `hook` makes a sealed one (web/seal/send-sealed.ts: keys checked again, then created and
   * started from its spool); without it, `req` is created as it is.
   */
  wait(req: CreateTransferRequest, to: SentRecord["to"], files: File[], once = sendKey(), hook?: WaitHook): void {
    const record: WaitingRecord = {
      key: `w${Date.now()}${Math.random().toString(36).slice(2, 8)}`,
      at: new Date().toISOString(),
      to,
      files: files.map((f) => ({ name: f.name, size: f.size })),
      message: req.message ?? null,
      sealed: hook?.sealed,
    };
    recordWaiting(record);
    const gone = () => {
      this.waiting.delete(record.key);
      dropWaiting(record.key);
      w.el.remove();
    };
    const w = new WaitingItem(this.client, record, once, hook ?? {
      make: async (key) => {
        const transfer = await this.client.createTransfer(req, { idempotencyKey: key });
        return { transfer, record: sentRecord(transfer, to, files, req.message ?? null), sources: files };
      },
      drop() {},
    }, (got) => {
      gone();
      this.start(got.record, got.transfer, got.sources);
    }, () => {
      gone();
      this.showHeading();
    });
    this.waiting.set(record.key, w);
    this.list.prepend(w.el);
    this.showHeading();
  }

  /** The same files chosen again after a reload: the unfinished transfer goes on (no second one). */
  resume(record: SentRecord, files: File[]): void {
    let it = this.items.get(record.id);
    if (!it) {
      it = new OutItem(this.client, record, null, null, () => this.drop(record.id));
      this.mount(it);
    }
    this.list.prepend(it.el);
    void it.resumeWith(files);
  }

  private started(transfer: Transfer, to: SentRecord["to"], files: File[], message: string | null): void {
    this.start(sentRecord(transfer, to, files, message), transfer, files);
  }

  private showHeading(): void {
    const any = this.list.childElementCount > 0;
    show(this.heading, any);
    show(this.list, any);
  }

  /** A transfer just created: noted in the browser, and its bytes go up now. */
  start(record: SentRecord, transfer: Transfer, sources: File[]): void {
    recordSent(record);
    const it = new OutItem(this.client, record, transfer, sources, () => this.drop(record.id));
    this.mount(it);
    void it.upload(true);
  }

  opened(transfer: Transfer, by: string): boolean {
    const it = this.items.get(transfer.id);
    if (!it) return false;
    it.opened(transfer, by);
    return true;
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
    return [...this.items.values()].some((it) => it.uploading) || this.waiting.size > 0;
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
    this.showHeading();
  }

  private drop(id: string): void {
    this.items.get(id)?.el.remove();
    this.items.delete(id);
    dropSent(id);
    this.showHeading();
  }
}

class OutItem {
  readonly el: HTMLLIElement;
  private phase: Phase;
  private error = "";
  private progress: UploadProgress | null = null;
  /** bytes the server has answered for (parts stored), in all and per file */
  private confirmed = 0;
  private confirmedFiles: number[] = [];
  private readonly answered = new Set<string>();
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
    const what = whatLine(record);
    this.steps = h("ol", { class: "steps", "aria-label": WORDS.progress });
    this.bars = h("div", { class: "bars" });
    this.status = h("p", { class: "status", role: "status" });
    this.actions = h("div", { class: "actions" });
    this.el = h(
      "li",
      { class: "item out", id: `o-${record.id}`, tabindex: "-1" },
      h("div", { class: "head" }, h("span", { class: "to" }, ...toLine(record.to)), h("time", { class: "muted", datetime: record.at }, ago(record.at))),
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
    // one tab at a time uploads a transfer: after a reload every open tab finds a sealed send's
    // spool and would send the same parts; the others wait their turn (or take over when the
    // uploading tab closes), then find nothing missing
    const abort = this.abort;
    const locks = (navigator as { locks?: LockManager }).locks;
    if (!locks) return this.uploadNow(fresh, abort);
    await locks.request(`pushdrop.upload.${this.transfer.id}`, { signal: abort.signal }, () => this.uploadNow(fresh, abort)).catch((e: unknown) => {
      if ((e as { name?: string } | null)?.name !== "AbortError") throw e; // cancelled while waiting its turn
    });
  }

  private async uploadNow(fresh: boolean, abort: AbortController): Promise<void> {
    // (a later upload() of this item took over while this one waited its turn)
    if (!this.sources || !this.transfer || abort !== this.abort) return;
    // what the server answered for counts as sent; what is on its way shows apart
    const put: PutFn = async (url, body, headers, o) => {
      const res = await xhrPut(url, body, headers, o);
      if (res.status < 300 && !this.answered.has(url)) {
        this.answered.add(url);
        this.confirmed += body.size;
        const index = Number(/\/files\/(\d+)/.exec(url)?.[1] ?? -1);
        if (index >= 0) this.confirmedFiles[index] = (this.confirmedFiles[index] ?? 0) + body.size;
      }
      return res;
    };
    const opts = {
      concurrency: 3,
      // a part is tried 3 times (waits of 1 s, 2 s); then the item pauses and resumes from the
      // server's partsReceived, again and again, as long as the page is open
      tries: 3,
      put,
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
      const from = fresh ? this.transfer : await this.client.transfer(this.transfer.id);
      this.answered.clear();
      this.confirmedFiles = from.files.map((f) => f.received);
      this.confirmed = this.confirmedFiles.reduce((a, b) => a + b, 0);
      const res = await uploadFiles(this.client, from, this.sources, opts);
      this.transfer = { ...this.transfer, status: res.status };
      this.phase = "sent";
      this.sources = null;
      this.dropSpool();
      this.render();
      announce(WORDS.uploaded(this.record.to.length > 1));
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

  /** The same files, chosen again after a reload: the upload goes on from what the server has. */
  async resumeWith(files: File[]): Promise<void> {
    if (!this.transfer) await this.refresh();
    this.sources = files;
    this.error = "";
    await this.upload();
  }

  /** Asks the server where the transfer stands. */
  async refresh(): Promise<void> {
    try {
      this.transfer = await this.client.transfer(this.record.id);
      if (this.transfer.status === "uploading" && !this.sources && this.phase === "sent") {
        this.phase = "interrupted";
        // a sealed send goes on from its spool after a reload: the same bytes, never sealed again
        const spool = this.record.sealed?.spool;
        const files = spool && (await (await import("./seal/spool")).spoolFiles(spool, this.transfer.files.map((f) => f.name)));
        // (one resume, however many refreshes were waiting)
        if (files && this.phase === "interrupted" && !this.sources) return void this.resumeWith(files);
      }
      if (this.transfer.status !== "uploading") this.dropSpool();
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 410 || e.status === 403)) {
        this.phase = "gone";
        this.dropSpool();
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

  opened(transfer: Transfer, by: string): void {
    this.transfer = { ...transfer, recipients: transfer.recipients.map((r) => (r.id === by ? { ...r, openedAt: r.openedAt ?? new Date().toISOString() } : r)) };
    this.render();
    announce(WORDS.receiptOpened(this.nameOf(by)));
  }

  receipt(by: string, at: string): void {
    const t = this.transfer;
    if (!t) return void this.refresh();
    const recipients = t.recipients.map((r) => (r.id === by ? { ...r, downloadedAt: r.downloadedAt ?? at, notifiedAt: r.notifiedAt ?? at } : r));
    const all = recipients.every((r) => r.downloadedAt);
    this.transfer = { ...t, recipients, status: all ? "delivered" : t.status };
    this.render();
    announce(t.files.length ? WORDS.receiptDownloaded(this.nameOf(by)) : WORDS.receiptDelivered(this.nameOf(by)));
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

  /**
   * The spool of a sealed send, once nothing more goes up from it: deleted once per item (every
   * refresh of a finished send, each second of its poll, would otherwise ask OPFS again).
   */
  private dropSpool(): void {
    const spool = this.record.sealed?.spool;
    if (!spool || this.spoolDropped) return;
    this.spoolDropped = true;
    void import("./seal/spool").then((m) => m.dropSpool(spool));
  }
  private spoolDropped = false;

  private async cancel(): Promise<void> {
    this.phase = "failed";
    this.dropSpool();
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
        this.error = WORDS.notTheSame;
        return this.render();
      }
      this.sources = sources as File[];
      void this.upload(); // (parts may be on the server already: resume from them)
    });
    document.body.append(input);
    input.click();
  }

  private nameOf(id: string): string {
    return this.record.to.find((r) => r.id === id)?.name || idText(id);
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
    if (this.phase === "paused") buttons.push(h("button", { type: "button", onclick: () => void this.upload() }, WORDS.retryNow));
    if (this.phase === "interrupted" && !this.record.sealed) buttons.push(h("button", { type: "button", onclick: () => this.pickAgain() }, WORDS.chooseAgain));
    if (open && this.phase !== "failed") buttons.push(h("button", { type: "button", class: "quiet", onclick: () => void this.cancel() }, WORDS.cancel));
    if (!open || this.phase === "failed") buttons.push(h("button", { type: "button", class: "link small", "aria-label": WORDS.removeLabel, onclick: this.remove }, WORDS.remove));
    // something arriving (a receipt, a status) must not take focus away from the person
    const focused = this.el.contains(document.activeElement) ? (document.activeElement as HTMLElement) : null;
    fill(this.actions, ...buttons);
    if (focused && !this.el.contains(document.activeElement)) {
      const same = buttons.find((b) => b.textContent === focused.textContent);
      (same ?? this.el).focus({ preventScroll: true });
    }
  }

  private renderSteps(): void {
    const t = this.transfer;
    const message = this.record.files.length === 0;
    const n = this.record.to.length;
    const count = (f: (r: Transfer["recipients"][number]) => unknown) => t?.recipients.filter(f).length ?? 0;
    const ready = t !== null && (t.status === "ready" || t.status === "delivered");
    const notified = count((r) => r.notifiedAt);
    const downloaded = t?.status === "delivered" ? n : count((r) => r.downloadedAt);
    const opened = count((r) => r.openedAt);
    // Notified: the device has it; Opened: the person looked at it (the server's openedAt, never guessed)
    const steps: Array<[string, boolean]> = message
      ? [
          [WORDS.sent, t !== null && t.status !== "uploading"],
          [WORDS.notified(notified, n), ready && notified === n],
          [WORDS.delivered(downloaded, n), downloaded === n],
          [WORDS.opened(opened, n), opened === n],
        ]
      : [
          [WORDS.uploading, t !== null && t.status !== "uploading"],
          [t?.status === "packaging" ? WORDS.packing : WORDS.ready, ready],
          [WORDS.notified(notified, n), ready && notified === n],
          [WORDS.opened(opened, n), opened === n],
          [WORDS.downloaded(downloaded, n), downloaded === n],
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
    const kept = Math.min(this.confirmed, p.total);
    const flight = Math.max(0, Math.min(p.sent, p.total) - kept);
    const left = this.meter.secondsLeft(p.total - p.sent);
    const rate = this.meter.bytesPerSecond;
    const stats = [
      WORDS.stored(fmtSize(kept), fmtSize(p.total)),
      flight > 0 ? WORDS.onTheWay(fmtSize(flight)) : "",
      rate > 0 && this.phase === "uploading" ? WORDS.rate(fmtSize(rate), formatDuration(left)) : "",
    ]
      .filter(Boolean)
      .join(" · ");
    if (!this.bars.childElementCount) {
      fill(
        this.bars,
        h(
          "div",
          { class: "meter", role: "progressbar", "aria-label": WORDS.allFiles, "aria-valuemin": "0" },
          h("span", { class: "kept" }),
          h("span", { class: "flight" }),
        ),
        h("p", { class: "stats muted" }),
        this.transfer.files.length > 1
          ? h(
              "ul",
              { class: "perfile" },
              this.transfer.files.map((f, i) => {
                // a sealed transfer's files by their real names (seal.age keeps its own)
                const name = (this.record.sealed && this.record.files[i]?.name) || f.name;
                return h("li", null, h("span", { class: "name" }, fileName(name, 30)), h("progress", { max: String(Math.max(1, f.size)), "aria-label": name }), h("span", { class: "pct muted" }));
              }),
            )
          : null,
      );
    }
    const [meterEl, statsEl, list] = [...this.bars.children] as [HTMLElement, HTMLElement, HTMLUListElement | undefined];
    const pct = (n: number) => `${p.total > 0 ? (n / p.total) * 100 : 0}%`;
    // (CSSOM, not a style attribute: the page's CSP allows no inline style)
    (meterEl.children[0] as HTMLElement).style.setProperty("inline-size", pct(kept));
    (meterEl.children[1] as HTMLElement).style.setProperty("inline-size", pct(flight));
    meterEl.setAttribute("aria-valuemax", String(Math.max(1, p.total)));
    meterEl.setAttribute("aria-valuenow", String(kept));
    meterEl.setAttribute("aria-valuetext", stats);
    statsEl.textContent = stats;
    if (list) {
      [...list.children].forEach((li, i) => {
        const f = this.transfer!.files[i]!;
        const bar = li.querySelector("progress")!;
        const have = Math.min(f.size, this.confirmedFiles[i] ?? 0);
        bar.value = have;
        li.querySelector(".pct")!.textContent = f.size === 0 || have >= f.size ? "✓" : formatNumber(Math.floor((have / f.size) * 100) / 100, currentLanguage().tag, { style: "percent" });
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
    const names = listNames(this.record.to.map((r) => r.name || idText(r.id)));
    const many = this.record.to.length > 1;
    switch (this.phase) {
      case "paused":
        if (this.error) return WORDS.retrying(this.error);
        return navigator.onLine === false ? WORDS.offline : WORDS.dropped;
      case "failed":
        return this.error || WORDS.cancelled;
      case "gone":
        return WORDS.gone;
      case "interrupted":
        return this.record.sealed ? tr("seal.interrupted") : WORDS.interrupted;
      case "uploading":
        return this.progress && this.progress.total > 0 ? WORDS.uploadingNow : WORDS.starting;
    }
    if (!t) return this.error;
    const who = (list: Transfer["recipients"]) => listNames(list.map((r) => this.nameOf(r.id)));
    const text = this.record.files.length === 0;
    switch (t.status) {
      case "uploading":
        return WORDS.uploadingNow;
      case "packaging":
        return WORDS.packingNow;
      case "expired":
        return WORDS.expired;
      case "cancelled":
        return WORDS.cancelled;
      case "failed":
        return t.failure ? WORDS.failed(t.failure) : WORDS.packFailed;
      case "delivered":
        if (!text) return WORDS.allDownloaded(names);
        return t.recipients.every((r) => r.openedAt) ? WORDS.textOpened(names) : WORDS.textDelivered(names);
    }
    const waiting = t.recipients.filter((r) => !r.notifiedAt);
    const downloaded = t.recipients.filter((r) => r.downloadedAt);
    const opened = t.recipients.filter((r) => r.openedAt && !r.downloadedAt);
    if (downloaded.length) return text ? WORDS.textDelivered(who(downloaded)) : WORDS.someDownloaded(who(downloaded));
    if (opened.length) return text ? WORDS.textOpened(who(opened)) : WORDS.openedNotDownloaded(who(opened));
    if (waiting.length === 0) {
      const push = t.recipients.every((r) => r.channel === "push");
      return push ? WORDS.notifiedPush(names, many) : WORDS.notifiedLive(names, many);
    }
    return WORDS.toldWhenOnline(who(waiting));
  }
}

/** The outbox's record of a transfer it created from these files. */
const sentRecord = (transfer: Transfer, to: SentRecord["to"], files: File[], message: string | null): SentRecord => ({
  id: transfer.id,
  at: transfer.createdAt,
  to,
  files: files.map((f) => ({ name: f.name, size: f.size, lastModified: f.lastModified })),
  message,
});

/** What a waiting send does once the server answers, and what it keeps (a sealed send's spool). */
export interface WaitHook {
  /** creates the transfer (`once`: the same Idempotency-Key every try); what it throws that is not waitable ends the wait, in its `words` if it has them */
  make(once: string): Promise<{ transfer: Transfer; record: SentRecord; sources: File[] }>;
  /** the send was cancelled or refused: what it kept goes */
  drop(): void;
  sealed?: WaitingRecord["sealed"];
}

/** Without a connection (or the server briefly away): a send may wait for it. */
export const waitable = (e: unknown) => e instanceof NetworkError || (isTransient(e) && !(e instanceof ApiError && e.status === 429));

/** A new idempotency key (1–64 of A-Z a-z 0-9 _ -). */
function sendKey(): string {
  return typeof crypto.randomUUID === "function" ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

/**
 * A send that could not reach the server: it waits here, tries again (backing off to 30 s, at
 * once when the browser says it is online or the live channel opens), and can be cancelled.
 */
class WaitingItem {
  readonly el: HTMLLIElement;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private tries = 0;
  private busy = false;
  /** Cancel was pressed (or the server refused it): no try after it, and one already on its way is undone */
  private stopped = false;
  private readonly status: HTMLElement;
  private readonly button: HTMLElement;

  constructor(
    private readonly client: PushdropClient,
    readonly record: WaitingRecord,
    /** the send's idempotency key: every try is the same request to the server */
    private readonly once: string,
    private readonly hook: WaitHook,
    private readonly created: (got: Awaited<ReturnType<WaitHook["make"]>>) => void,
    private readonly cancelled: () => void,
  ) {
    this.status = h("p", { class: "status", role: "status" }, WORDS.waiting);
    this.button = h("button", { type: "button", class: "quiet", onclick: () => this.cancel() }, WORDS.cancel);
    this.el = h("li", { class: "item out waiting", tabindex: "-1" }, recordHead(record), this.status, h("div", { class: "actions" }, this.button));
    this.later();
  }

  tryNow(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    void this.attempt();
  }

  private later(): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), Math.min(30_000, 2000 * 2 ** this.tries++));
  }

  private async attempt(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const got = await this.hook.make(this.once);
      if (this.stopped) {
        // cancelled while this try was on its way: the transfer it made goes too, unsent
        await this.client.cancel(got.transfer.id).catch(() => undefined);
        return;
      }
      clearTimeout(this.timer);
      this.created(got);
    } catch (e) {
      if (this.stopped) return;
      if (waitable(e)) this.later();
      else {
        this.stopped = true;
        this.hook.drop();
        // (said here; a reload must not call it lost with the page)
        dropWaiting(this.record.key);
        this.status.textContent = (e as { words?: string }).words ?? WORDS.refused(plainError(e));
        this.status.classList.add("error");
        // (nothing left to cancel: the card goes when the person has read it)
        this.button.textContent = WORDS.remove;
      }
    } finally {
      this.busy = false;
    }
  }

  private cancel(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.hook.drop();
    this.cancelled();
  }
}

/** What was waiting for a connection when the page closed: said, so nobody believes it went. */
function lostCard(w: WaitingRecord, remove: () => void): HTMLLIElement {
  return h(
    "li",
    { class: "item out lost", tabindex: "-1" },
    recordHead(w),
    h("p", { class: "status error" }, w.files.length ? WORDS.lost : WORDS.lostText),
    w.files.length ? h("ul", { class: "files" }, w.files.map((f) => h("li", null, fileName(f.name), h("span", { class: "muted nowrap" }, fmtSize(f.size))))) : null,
    h("div", { class: "actions" }, h("button", { type: "button", class: "link small", "aria-label": WORDS.removeLabel, onclick: remove }, WORDS.remove)),
  );
}

function recordHead(r: WaitingRecord): HTMLElement[] {
  const what = whatLine(r);
  return [h("div", { class: "head" }, h("span", { class: "to" }, ...toLine(r.to)), h("time", { class: "muted", datetime: r.at }, ago(r.at))), h("p", { class: "what muted" }, what)];
}

function oneLine(s: string, max = 60): string {
  const line = s.trim().split(/\r?\n/)[0] ?? "";
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function joinWith<T>(parts: T[][], sep: string): Array<T | string> {
  return parts.flatMap((p, i) => (i === 0 ? p : [sep, ...p]));
}
