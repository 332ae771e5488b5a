import { describe, expect, test } from "vitest";
import { wilsonInterval } from "../../lib/eval/wilson.js";

describe("wilsonInterval", () => {
  test("matches published values", () => {
    // Reference values from the closed form (e.g. statsmodels proportion_confint(method="wilson")).
    const a = wilsonInterval(8, 10);
    expect(a.low).toBeCloseTo(0.4902, 4);
    expect(a.high).toBeCloseTo(0.9433, 4);
    const b = wilsonInterval(50, 100);
    expect(b.low).toBeCloseTo(0.4038, 4);
    expect(b.high).toBeCloseTo(0.5962, 4);
  });

  test("stays in [0, 1], contains the estimate, narrows with more trials, mirrors failures", () => {
    expect(wilsonInterval(0, 20).low).toBe(0);
    expect(wilsonInterval(20, 20).high).toBe(1);
    expect(wilsonInterval(0, 0)).toEqual({ low: 0, high: 1 });
    for (const [k, n] of [[1, 3], [7, 9], [123, 500]] as const) {
      const i = wilsonInterval(k, n);
      expect(i.low).toBeLessThanOrEqual(k / n);
      expect(i.high).toBeGreaterThanOrEqual(k / n);
      const mirror = wilsonInterval(n - k, n);
      expect(mirror.low).toBeCloseTo(1 - i.high, 12);
    }
    const small = wilsonInterval(30, 60);
    const large = wilsonInterval(300, 600);
    expect(large.high - large.low).toBeLessThan(small.high - small.low);
  });
});
