import { describe, expect, it } from "vitest";
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
