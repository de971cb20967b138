import { describe, expect, it } from "vitest";
import { startedAt } from "../../cli/commands/send";
import { lifetime } from "../../cli/commands/transfers";
import { Speed } from "../../cli/progress";

/** cli/progress.ts: the overall speed and a file's speed agree while one file moves alone. */
describe("Speed", () => {
  it("starts at the first bytes that move: seconds spent connecting do not drag the overall speed down", () => {
    const overall = new Speed(0);
    const file = new Speed(0);
    overall.sample(0, 0); // the view is drawn; then 3 s of connecting and opening files
    const rate = 88e6; // bytes per second
    for (let t = 3000; t <= 5000; t += 125) {
      const bytes = Math.round(((t - 2875) / 1000) * rate);
      overall.sample(bytes, t);
      file.sample(bytes, t);
    }
    expect(overall.bytesPerSecond).toBe(file.bytesPerSecond);
    expect(Math.abs(overall.bytesPerSecond - rate) / rate).toBeLessThan(0.01);
  });

  it("counts only what moves in this run for a file resumed half way", () => {
    const s = new Speed(100e6);
    s.sample(100e6, 0);
    s.sample(100e6, 5000); // nothing yet
    s.sample(110e6, 6000);
    s.sample(120e6, 7000);
    expect(Math.round(s.bytesPerSecond)).toBe(10e6);
    expect(new Speed(5).secondsLeft(10)).toBeNull(); // unknown until bytes move
  });
});

describe("what status and a resumed send say about time", () => {
  const now = Date.parse("2026-12-06T18:00:00Z");
  it("a cancelled or failed transfer has ended: no 'expires in'", () => {
    const expiresAt = "2026-12-07T18:00:00Z";
    expect(lifetime({ status: "ready", expiresAt }, now)).toBe("expires in 24 h");
    expect(lifetime({ status: "cancelled", expiresAt }, now)).toBe("cancelled (its files are gone)");
    expect(lifetime({ status: "failed", expiresAt }, now)).toBe("failed (its files are gone)");
    expect(lifetime({ status: "expired", expiresAt: "2026-12-06T17:00:00Z" }, now)).toBe("expired 60 min ago");
    expect(lifetime({ status: "ready", expiresAt: "2026-12-06T17:59:00Z" }, now)).toBe("expired 60 s ago"); // (the sweep has not run yet)
  });

  it("a resumed send's start: how long ago and the local time, never an ISO string", () => {
    const s = startedAt("2026-12-06T17:53:21.280Z", now);
    expect(s).toMatch(/^7 min ago, at \S/);
    expect(s).not.toContain("2026-12-06T");
    expect(startedAt("2026-12-04T17:00:00Z", now)).toMatch(/^2 d ago, at .*\d/); // another day: with its date
  });
});
