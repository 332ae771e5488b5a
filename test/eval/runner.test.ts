// The runner with a deterministic stand-in for the model: resumption, refusals, row failures, outputs.
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { createError } from "../../lib/errors.js";
import type { EvalItem } from "../../lib/eval/item.js";
import { questionPrompt } from "../../lib/eval/question-prompt.js";
import { readRowLog } from "../../lib/eval/row-log.js";
import { outputPaths, runEval, type EvalOptions } from "../../lib/eval/runner.js";
import type { Solver } from "../../lib/eval/solver.js";
import { parseStrategySpecs } from "../../lib/eval/strategy-spec.js";
import { readVlmevalTsv } from "../../lib/eval/vlmeval-tsv.js";
import { STAGES } from "../../lib/reasoning/stages.js";
import { parseTsv } from "../../lib/eval/tsv-fields.js";
import { benchmarkRows, vlmevalTsv } from "./datasets.js";

const items = readVlmevalTsv(vlmevalTsv(benchmarkRows())).items;

/**
 * Answers right when (row number + seed) % (width + 1) is not 0, so wider "searches" score higher; says
 * the answer in a different form each time (letter in brackets, option text, number words).
 */
function fakeSolver(calls: string[] = [], fail?: (item: EvalItem) => Error | undefined): Solver {
  const byPrompt = new Map(items.map((i) => [questionPrompt(i), i]));
  return async ({ question, spec, seed, signal }) => {
    const item = byPrompt.get(question)!;
    calls.push(`${spec.label}/${item.id}`);
    signal?.throwIfAborted();
    const failure = fail?.(item);
    if (failure) throw failure;
    const right = (Number(item.id) + seed) % ((spec.width ?? 1) + 1) !== 0;
    const answer = item.choices
      ? right ? `The answer is (${item.answer}).` : "(A) is wrong, so is everything"
      : item.answer === "3" ? (right ? "There are three." : "There are 4.") : right ? item.answer : "something else";
    return {
      conclusion: answer,
      stages: { SUMMARY: "s", CAPTION: "c", REASONING: "r", CONCLUSION: answer },
      counts: { generatedTokens: 10 * (spec.width ?? 1), promptTokens: 5, judgeCalls: (spec.width ?? 1) - 1, imageEncodes: 1, candidates: 4 * (spec.width ?? 1) },
      stagesMs: { SUMMARY: 1 },
      problems: [],
      tree: { candidates: [], judgements: [] },
    };
  };
}

const base = (outDir: string, extra: Partial<EvalOptions> = {}): EvalOptions => ({
  items,
  specs: parseStrategySpecs("single,stage-beam:3"),
  solver: fakeSolver(),
  judge: "logprob",
  seed: 1,
  data: "/somewhere/bench.tsv",
  outDir,
  ...extra,
});

const outDir = () => mkdtempSync(join(tmpdir(), "eval-runner-"));
const stripTimes = (rows: unknown[]) => JSON.parse(JSON.stringify(rows), (k, v) => (k === "wallMs" ? 0 : v));

describe("runEval", () => {
  test("every strategy over every row; scores, stages and counts per row; outputs per strategy and a comparison", async () => {
    const dir = outDir();
    const { summaries, all } = await runEval(base(dir));
    expect(summaries.map((s) => s.key)).toEqual(["single", "stage-beam-3-logprob"]);
    expect(all.map((s) => s.key).sort()).toEqual(["single", "stage-beam-3-logprob"]);
    const rows = readRowLog(outputPaths(dir, "stage-beam-3-logprob").rows).rows;
    expect(rows.map((r) => r.id)).toEqual(items.map((i) => i.id));
    expect(rows.map((r) => r.scorer)).toEqual(["choice", "choice", "yes-no", "yes-no", "number", "exact", "choice", "choice"]);
    // Right exactly where the stand-in answered right: (id + 1) % 4 !== 0.
    expect(rows.map((r) => r.correct)).toEqual(items.map((i) => (Number(i.id) + 1) % 4 !== 0));
    expect(rows[0]).toMatchObject({ run: { label: "stage-beam:3", strategy: "stage-beam", width: 3, judge: "logprob", seed: 1, data: "bench.tsv", url: null } });
    expect(Object.keys(rows[0]!.stages)).toEqual([...STAGES]);
    expect(rows[0]!.counts.judgeCalls).toBe(2);
    expect(rows[0]!.tree).toEqual({ candidates: [], judgements: [] });
    const single = readRowLog(outputPaths(dir, "single").rows).rows;
    expect(single[0]!.run.judge).toBeNull();
    // Summary: accuracy, interval, categories, mean costs.
    const summary = JSON.parse(readFileSync(outputPaths(dir, "stage-beam-3-logprob").summaryJson, "utf8"));
    expect(summary.accuracy).toMatchObject({ rows: 8, correct: 6, accuracy: 0.75 });
    expect(summary.accuracy.low).toBeLessThan(0.75);
    expect(summary.byCategory.chart).toMatchObject({ rows: 2, correct: 1 });
    expect(summary.mean).toMatchObject({ generatedTokens: 30, judgeCalls: 2, imageEncodes: 1 });
    // The prediction TSV reads back as VLMEvalKit's columns plus prediction, with the conclusion in it.
    const tsv = parseTsv(readFileSync(outputPaths(dir, "single").tsv, "utf8"));
    const header = tsv[0]!.fields;
    expect(header).toEqual(["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "prediction", "extracted", "scorer", "hit", "error"]);
    expect(tsv).toHaveLength(9);
    const last = Object.fromEntries(header.map((h, i) => [h, tsv[8]!.fields[i]]));
    expect(last).toMatchObject({ index: "7", question: "What colour is the\tbar?\nAnswer briefly.", B: '"purple"', prediction: single[7]!.prediction, hit: single[7]!.correct ? "1" : "0" });
    expect(readdirSync(dir).sort()).toEqual(
      ["accuracy-vs-time.svg", "summary.json", "summary.md", ...["single", "stage-beam-3-logprob"].flatMap((k) => [`${k}.jsonl`, `${k}.summary.json`, `${k}.summary.md`, `${k}.tsv`])].sort(),
    );
    const md = readFileSync(join(dir, "summary.md"), "utf8");
    expect(md).toContain("| stage-beam:3 | logprob | 8 | 75.0 [");
  });

  test("interrupted and resumed, a run gives the rows of an uninterrupted one, none twice, none run twice", async () => {
    const whole = outDir();
    await runEval(base(whole));
    const dir = outDir();
    const controller = new AbortController();
    const calls: string[] = [];
    const solver = fakeSolver(calls);
    let answered = 0;
    const interrupted = runEval(
      base(dir, {
        solver,
        signal: controller.signal,
        onProgress: (p) => {
          if (p.row && ++answered === 11) controller.abort();
        },
      }),
    );
    await expect(interrupted).rejects.toThrow();
    // The aborted run still wrote the outputs of what was done.
    expect(JSON.parse(readFileSync(outputPaths(dir, "stage-beam-3-logprob").summaryJson, "utf8")).accuracy.rows).toBe(3);
    await expect(runEval(base(dir))).rejects.toThrow(/already holds 8 results: pass --resume/);
    const resumedCalls: string[] = [];
    const progress: number[] = [];
    await runEval(base(dir, { solver: fakeSolver(resumedCalls), resume: true, onProgress: (p) => progress.push(p.done) }));
    expect(resumedCalls).toEqual(["stage-beam:3/3", "stage-beam:3/4", "stage-beam:3/5", "stage-beam:3/6", "stage-beam:3/7"]);
    expect(progress).toEqual([8, 3, 4, 5, 6, 7, 8]);
    for (const key of ["single", "stage-beam-3-logprob"]) {
      const a = readRowLog(outputPaths(whole, key).rows).rows;
      const b = readRowLog(outputPaths(dir, key).rows).rows;
      expect(stripTimes(b)).toEqual(stripTimes(a));
      expect(readFileSync(outputPaths(dir, key).tsv, "utf8")).toBe(readFileSync(outputPaths(whole, key).tsv, "utf8"));
    }
  });

  test("resuming into results of another run is refused, naming what differs", async () => {
    const dir = outDir();
    await runEval(base(dir, { items: items.slice(0, 2) }));
    await expect(runEval(base(dir, { resume: true, seed: 2 }))).rejects.toThrow(/its seed is 1, this run's 2/);
    await expect(runEval(base(dir, { resume: true, data: "other.tsv" }))).rejects.toThrow(/its data is "bench.tsv"/);
    // The other judge writes its own files beside these, and the comparison covers both.
    const { all } = await runEval(base(dir, { judge: "generate", specs: parseStrategySpecs("stage-beam:3"), items: items.slice(0, 2) }));
    expect(all.map((s) => s.key).sort()).toEqual(["single", "stage-beam-3-generate", "stage-beam-3-logprob"]);
  });

  test("a row's own failure is recorded as wrong with its error; any other failure stops the run", async () => {
    const dir = outDir();
    const badImage = (item: EvalItem) => (item.id === "2" ? createError("UNSUPPORTED_IMAGE", "webp images are not supported") : undefined);
    await runEval(base(dir, { specs: parseStrategySpecs("single"), solver: fakeSolver([], badImage) }));
    const rows = readRowLog(outputPaths(dir, "single").rows).rows;
    expect(rows).toHaveLength(8);
    expect(rows[2]).toMatchObject({ correct: false, prediction: "", error: "[UNSUPPORTED_IMAGE] webp images are not supported" });
    expect(JSON.parse(readFileSync(outputPaths(dir, "single").summaryJson, "utf8")).errors).toBe(1);

    const down = outDir();
    const serverDown = (item: EvalItem) => (item.id === "2" ? createError("REMOTE_FAILED", "cannot reach the server") : undefined);
    await expect(runEval(base(down, { specs: parseStrategySpecs("single"), solver: fakeSolver([], serverDown) }))).rejects.toThrow(/cannot reach/);
    // Rows before it are kept; it and those after are left for --resume.
    expect(readRowLog(outputPaths(down, "single").rows).rows.map((r) => r.id)).toEqual(["0", "1"]);
  });
});
