import { Format, MultiBar, type SingleBar } from "cli-progress";
import { formatBytes, formatDuration, RateMeter } from "../client";
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
  size: number;
}

/** Most file bars shown at once (the rest still count in the overall bar). */
const MAX_FILE_BARS = 6;
const PLAIN_EVERY_MS = 2000;
const LABEL = 28;

export class ProgressView {
  private readonly total: number;
  private readonly overall = new RateMeter();
  private readonly started = Date.now();
  private readonly startBytes: number;
  private last: number[];
  private readonly reported = new Set<number>();
  // terminal mode
  private multi: MultiBar | null = null;
  private overallBar: SingleBar | null = null;
  private readonly fileBars = new Map<number, { bar: SingleBar; meter: RateMeter }>();
  // plain mode
  private lastLine = Date.now();
  private lastLineBytes = -1;

  constructor(
    private readonly ui: Ui,
    /** "sent" or "received" */
    private readonly verb: string,
    private readonly items: readonly ProgressItem[],
    initial: readonly number[] = [],
    private readonly title = verb === "sent" ? "Sending" : "Receiving",
  ) {
    this.total = items.reduce((s, i) => s + i.size, 0);
    this.last = items.map((_, i) => initial[i] ?? 0);
    this.startBytes = this.last.reduce((a, b) => a + b, 0);
    if (ui.quiet) return;
    if (ui.drawable) {
      this.multi = new MultiBar({
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
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
    if (this.startBytes > 0) ui.info(`resuming: ${formatBytes(this.startBytes)} of ${formatBytes(this.total)} already there`);
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
      this.ui.info(`${this.verb} ${item.name} (${formatBytes(item.size)})`);
    }
    if (this.multi) {
      if (this.items.length > 1) {
        perItem.forEach((bytes, i) => {
          if (done.has(i) || this.reported.has(i)) return;
          let fb = this.fileBars.get(i);
          if (!fb) {
            if (bytes === 0 || this.fileBars.size >= MAX_FILE_BARS) return;
            const meter = new RateMeter();
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

  private payload(name: string, bytes: number, total: number, meter: RateMeter) {
    return { label: fit(name, LABEL), line: this.line(bytes, total, meter) };
  }

  private line(bytes: number, total: number, meter: RateMeter): string {
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
