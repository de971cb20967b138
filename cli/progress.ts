import { Format, MultiBar, type SingleBar } from "cli-progress";
import { formatBytes, formatDuration, RateMeter } from "../client";
import { shown } from "./sanitize";
import type { Ui } from "./ui";

/**
 * Progress of a send or a download. On a terminal: a bar per file in flight and one for the
 * whole, each with bytes, speed and time left, redrawn in place (cli-progress, which handles
 * the cursor moves, redraw throttling and lines logged above the bars). Anywhere else
 * (a pipe, a log file, CI): plain lines, one per finished file and one every few seconds,
 * never a carriage return.
 */

export interface ProgressItem {
  name: string;
  /** the bytes that move (a sealed file's ciphertext) */
  size: number;
  /** the size a person knows the file by, in its "sent …" line (a sealed file's plaintext); else `size` */
  shownSize?: number;
  /** false: counted, but no "sent …" line of its own (a sealed transfer's seal.age) */
  announce?: boolean;
}

/** Most file bars shown at once (the rest still count in the overall bar). */
const MAX_FILE_BARS = 6;
const PLAIN_EVERY_MS = 2000;
const LABEL = 28;

/**
 * A speed that starts counting at the first bytes that move, not when it is made: the overall
 * speed and a file's speed then start on the same progress event and, while one file moves
 * alone, agree. (The overall meter used to start when the view was made, so the seconds spent
 * connecting and opening files weighed on it: 22.3 MB/s overall beside 88.1 MB/s for the one
 * file that was moving.) A file resumed half way counts only what moves now.
 */
export class Speed {
  private readonly meter = new RateMeter();
  private moving = false;

  /** `base`: the bytes there before anything moves (what a resumed transfer already has) */
  constructor(private base: number | null = null) {}

  sample(bytes: number, now: number): void {
    if (this.base === null) this.base = bytes;
    if (!this.moving && bytes === this.base) return; // nothing has moved yet: no time counts
    this.moving = true;
    this.meter.sample(bytes, now); // (the first is where the measuring starts)
  }

  get bytesPerSecond(): number {
    return this.meter.bytesPerSecond;
  }

  secondsLeft(remaining: number): number | null {
    return this.meter.secondsLeft(remaining);
  }
}

export class ProgressView {
  private readonly total: number;
  private readonly items: readonly ProgressItem[];
  private readonly overall: Speed;
  private readonly started = Date.now();
  private readonly startBytes: number;
  private last: number[];
  private readonly reported = new Set<number>();
  // terminal mode
  private multi: MultiBar | null = null;
  private overallBar: SingleBar | null = null;
  private readonly fileBars = new Map<number, { bar: SingleBar; meter: Speed }>();
  private readonly initial: readonly number[];
  // plain mode
  private lastLine = Date.now();
  private lastLineBytes = -1;

  constructor(
    private readonly ui: Ui,
    /** "sent" or "received" */
    private readonly verb: string,
    items: readonly ProgressItem[],
    initial: readonly number[] = [],
    private readonly title = verb === "sent" ? "Sending" : "Receiving",
  ) {
    // names come from the transfer (the sender chose them): through the one gate, on one line
    this.items = items.map((i) => ({ ...i, name: shown(i.name) }));
    this.total = items.reduce((s, i) => s + i.size, 0);
    this.last = items.map((_, i) => initial[i] ?? 0);
    this.initial = [...this.last];
    this.startBytes = this.last.reduce((a, b) => a + b, 0);
    this.overall = new Speed(this.startBytes);
    // files that were whole before this run (a resumed send) were not sent now: not announced again
    const resuming = this.startBytes > 0;
    this.items.forEach((it, i) => {
      if (this.last[i]! >= it.size && (it.size > 0 || resuming)) this.reported.add(i);
    });
    if (ui.quiet) return;
    if (ui.drawable) {
      this.multi = new MultiBar({
        stream: process.stderr,
        hideCursor: true,
        // cleared on success (a summary line follows); left on screen, as they last stood, when
        // stopped (Ctrl-C) or failed, so that one can see how far it got
        clearOnComplete: false,
        linewrap: false,
        fps: 8,
        barsize: 20,
        barCompleteChar: "█",
        barIncompleteChar: "░",
        format: (options, params, payload: { label: string; line: string }) =>
          `${payload.label} ${Format.BarFormat(params.progress, options)} ${payload.line}`,
      });
      this.overallBar = this.multi.create(Math.max(1, this.total), this.startBytes, this.payload(this.title, this.startBytes, this.total, this.overall));
      ui.logSink = (line) => this.multi?.log(`${line}\n`);
    }
    if (resuming) {
      const whole = this.reported.size;
      ui.info(`resuming: ${formatBytes(this.startBytes)} of ${formatBytes(this.total)} already there${whole > 0 ? ` (${whole} of ${this.items.length} file${this.items.length === 1 ? "" : "s"} complete)` : ""}`);
    }
  }

  /** Bytes so far per item, and which items are complete. */
  update(perItem: readonly number[], done: ReadonlySet<number>): void {
    const now = Date.now();
    this.last = [...perItem];
    const sum = perItem.reduce((a, b) => a + b, 0);
    this.overall.sample(sum, now);
    for (const i of done) {
      if (this.reported.has(i)) continue;
      this.reported.add(i);
      const fb = this.fileBars.get(i);
      if (fb) {
        this.multi!.remove(fb.bar);
        this.fileBars.delete(i);
      }
      const item = this.items[i]!;
      if (item.announce !== false) this.ui.info(`${this.verb} ${item.name} (${formatBytes(item.shownSize ?? item.size)})`);
    }
    if (this.multi) {
      if (this.items.length > 1) {
        perItem.forEach((bytes, i) => {
          if (done.has(i) || this.reported.has(i)) return;
          let fb = this.fileBars.get(i);
          if (!fb) {
            if (bytes === 0 || this.fileBars.size >= MAX_FILE_BARS) return;
            const meter = new Speed(this.initial[i]);
            fb = { bar: this.multi!.create(Math.max(1, this.items[i]!.size), bytes, this.payload(this.items[i]!.name, bytes, this.items[i]!.size, meter)), meter };
            this.fileBars.set(i, fb);
          }
          fb.meter.sample(bytes, now);
          fb.bar.update(bytes, this.payload(this.items[i]!.name, bytes, this.items[i]!.size, fb.meter));
        });
      }
      this.overallBar!.update(sum, this.payload(this.title, sum, this.total, this.overall));
    } else if (!this.ui.quiet && now - this.lastLine >= PLAIN_EVERY_MS && sum !== this.lastLineBytes && sum > this.startBytes && sum < this.total) {
      this.lastLine = now;
      this.lastLineBytes = sum;
      this.ui.info(`  ${this.line(sum, this.total, this.overall)}`);
    }
  }

  /** Stops drawing; on success, one summary line. */
  end(ok: boolean): void {
    if (this.multi) {
      this.multi.update(); // flush lines logged since the last redraw
      (this.multi as unknown as { options: { clearOnComplete: boolean } }).options.clearOnComplete = ok;
      this.multi.stop();
      this.multi = null;
      this.ui.logSink = null;
    }
    if (!ok) return;
    const secs = (Date.now() - this.started) / 1000;
    const moved = this.total - this.startBytes;
    const rate = secs > 0 ? moved / secs : 0;
    this.ui.info(`${this.verb} ${formatBytes(this.total)} in ${formatDuration(secs)}${rate > 0 && secs >= 1 ? ` (${formatBytes(rate)}/s)` : ""}`);
  }

  private payload(name: string, bytes: number, total: number, meter: Speed) {
    return { label: fit(name, LABEL), line: this.line(bytes, total, meter) };
  }

  private line(bytes: number, total: number, meter: Speed): string {
    const pct = total > 0 ? Math.floor((bytes / total) * 100) : 100;
    const speed = meter.bytesPerSecond;
    const left = meter.secondsLeft(total - bytes);
    return `${String(pct).padStart(3)}%  ${formatBytes(bytes)} of ${formatBytes(total)}  ${speed > 0 ? `${formatBytes(speed)}/s` : "–"}  ${formatDuration(left)} left`;
  }
}

/** A name cut to `n` characters (keeping its end, where the extension is) and padded. */
function fit(name: string, n: number): string {
  const chars = [...name];
  const s = chars.length <= n ? name : `…${chars.slice(chars.length - n + 1).join("")}`;
  return s + " ".repeat(Math.max(0, n - [...s].length));
}
