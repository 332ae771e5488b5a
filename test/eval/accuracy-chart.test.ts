import { describe, expect, test } from "vitest";
import { accuracyChart } from "../../lib/eval/accuracy-chart.js";
import type { StrategySummary } from "../../lib/eval/summary.js";
import { wilsonInterval } from "../../lib/eval/wilson.js";

function summary(label: string, judge: "generate" | null, correct: number, rows: number, wallMs: number): StrategySummary {
  return {
    key: label,
    run: { label, strategy: "stage-beam", width: 2, judge, seed: 0, data: "d.tsv", url: null },
    errors: 0,
    accuracy: { rows, correct, accuracy: correct / rows, ...wilsonInterval(correct, rows) },
    byCategory: {},
    oracle: null,
    judge: null,
    mean: { wallMs, generatedTokens: 1, promptTokens: 1, judgeCalls: 0, imageEncodes: 1, candidates: 1 },
  };
}

/** Each strategy's point and interval bar, read back from the SVG. */
function points(svg: string) {
  return [...svg.matchAll(/<g class="strategy" data-key="([^"]+)">[\s\S]*?<line x1="([\d.]+)" x2="[\d.]+" y1="([\d.]+)" y2="([\d.]+)"[\s\S]*?<circle cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({
    key: m[1]!,
    barX: Number(m[2]),
    low: Number(m[3]),
    high: Number(m[4]),
    x: Number(m[5]),
    y: Number(m[6]),
  }));
}

describe("accuracyChart", () => {
  test("one point per strategy: right of the slower, above the more accurate, its interval around it", () => {
    const svg = accuracyChart([summary("single", null, 40, 100, 1000), summary("stage-beam:4", "generate", 60, 100, 4000), summary("<odd & name>", null, 50, 100, 2000)]);
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.trim().endsWith("</svg>")).toBe(true);
    expect(svg).toContain("&lt;odd &amp; name&gt;");
    expect(svg).not.toContain("<odd");
    const [single, beam, odd] = points(svg);
    expect(single!.key).toBe("single");
    expect(beam!.x).toBeGreaterThan(odd!.x);
    expect(odd!.x).toBeGreaterThan(single!.x);
    expect(beam!.y).toBeLessThan(odd!.y); // SVG y grows downwards
    expect(odd!.y).toBeLessThan(single!.y);
    for (const p of [single!, beam!, odd!]) {
      expect(p.barX).toBe(p.x);
      expect(p.low).toBeGreaterThan(p.y);
      expect(p.high).toBeLessThan(p.y);
    }
    // Tags balance (the file is well-formed for browsers and viewers).
    const opened = (svg.match(/<(g|svg|text|title)[\s>]/g) ?? []).length;
    const closed = (svg.match(/<\/(g|svg|text|title)>/g) ?? []).length;
    expect(opened).toBe(closed);
  });
});
