/**
 * Speed and time left for progress displays: an exponentially weighted average of the byte
 * rate, so one slow or fast moment does not make the estimate jump. Pure: give it the time.
 */
export class RateMeter {
  private lastAt: number | null = null;
  private lastBytes = 0;
  private rate = 0;

  constructor(private readonly halfLifeMs = 3000) {}

  /** Records that `bytes` (a running total) have been moved at time `now` (ms). */
  sample(bytes: number, now: number): void {
    if (this.lastAt === null) {
      this.lastAt = now;
      this.lastBytes = bytes;
      return;
    }
    const dt = now - this.lastAt;
    if (dt < 100) return;
    const instant = ((bytes - this.lastBytes) * 1000) / dt;
    const w = 1 - 2 ** (-dt / this.halfLifeMs);
    this.rate = this.rate === 0 ? instant : this.rate + w * (instant - this.rate);
    this.lastAt = now;
    this.lastBytes = bytes;
  }

  /** bytes per second (0 until two samples) */
  get bytesPerSecond(): number {
    return Math.max(0, this.rate);
  }

  /** seconds until `remaining` bytes are moved at the current rate, or null when unknown */
  secondsLeft(remaining: number): number | null {
    return this.rate > 0 ? remaining / this.rate : null;
  }
}

const UNITS = ["B", "KB", "MB", "GB", "TB"];

/** 1536 → "1.5 KB" (powers of 1000, as file managers show sizes today). */
export function formatBytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${UNITS[i]}`;
}

/** 75 → "1:15", 3725 → "1:02:05". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
}
