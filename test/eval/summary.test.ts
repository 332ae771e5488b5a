import { describe, expect, test } from "vitest";
import type { RowRecord } from "../../lib/eval/row-record.js";
import { markdownSummary, summarise } from "../../lib/eval/summary.js";

const run = { label: "stage-beam:2", strategy: "stage-beam" as const, width: 2, judge: "logprob" as const, seed: 0, data: "d.tsv", url: null };

function row(id: string, correct: boolean, category: string | null, wallMs: number, error: string | null = null, judgeCalls: number | null = 3, judging: RowRecord["judging"] = null): RowRecord {
  return {
    id, run, category, question: "q", hint: null, choices: null, answer: "x", prediction: "", scorer: "exact", extracted: null, correct,
    stages: { SUMMARY: "", CAPTION: "", REASONING: "", CONCLUSION: "" },
    counts: { generatedTokens: 100, promptTokens: 20, judgeCalls, imageEncodes: 1, candidates: 8 },
    timings: { wallMs, stagesMs: {} }, problems: [], error, judging,
  };
}

describe("summarise", () => {
  test("accuracy over all rows, by category; costs are means over rows that ran", () => {
    const judging = (rightAnswers: number, decisivePairs: number, judgeRight: number) => ({ answers: 4, rightAnswers, decisivePairs, judgeRight });
    const s = summarise("k", [
      row("1", true, "a", 1000, null, 3, judging(2, 2, 2)),
      row("2", false, "a", 3000, null, 3, judging(1, 1, 0)),
      row("3", true, "b", 2000, null, 3, judging(0, 0, 0)),
      row("4", false, null, 10, "[INVALID_IMAGE] bad", null),
    ]);
    expect(s.accuracy).toMatchObject({ rows: 4, correct: 2, accuracy: 0.5 });
    expect(s.byCategory).toMatchObject({ a: { rows: 2, correct: 1 }, b: { rows: 1, correct: 1 }, "(none)": { rows: 1, correct: 0 } });
    expect(s.errors).toBe(1);
    expect(s.mean.wallMs).toBe(2000);
    expect(s.mean.judgeCalls).toBe(3);
    // Some final answer right in 2 of the 3 rows that ran; the judge right in 2 of its 3 decisive choices.
    expect(s.oracle).toMatchObject({ rows: 3, correct: 2 });
    expect(s.judge).toMatchObject({ rows: 3, correct: 2 });
    const remote = summarise("r", [row("1", true, null, 5, null, null)]);
    expect(remote.mean.judgeCalls).toBeNull();
    expect(remote.oracle).toBeNull();
    const md = markdownSummary([s, remote]);
    expect(md).toContain("| stage-beam:2 | logprob | 4 | 50.0 [15.0, 85.0] | 66.7 | 66.7 [20.8, 93.9] (3) | 2.00 | 100.0 | 3.0 | 1.00 | 1 |");
    expect(md).toContain("| 1 | 100.0 [20.7, 100.0] | – | – | 0.01 | 100.0 | – | 1.00 | 0 |");
    expect(md).toContain("| a | 50.0 [9.5, 90.5] (n=2) | – |");
  });
});
