// An evaluation: every strategy over every item, a row at a time, each row appended to its strategy's
// results JSONL as soon as it is scored; then, per strategy, the prediction TSV and the summary (JSON and
// Markdown), and over every results file in the folder the comparison table and the accuracy–time chart.
// With `resume`, rows already in a results file are skipped; without it an existing results file is an
// error rather than silently overwritten. An abort (Ctrl-C) still writes the outputs of what is done.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { createError } from "../errors.js";
import type { JudgeMode } from "../reasoning/options.js";
import { STAGES, type Stage } from "../reasoning/stages.js";
import { accuracyChart } from "./accuracy-chart.js";
import type { EvalItem } from "./item.js";
import { predictionTsv } from "./prediction-tsv.js";
import { questionPrompt } from "./question-prompt.js";
import { RowLog, readRowLog } from "./row-log.js";
import type { RowRecord, RunSettings } from "./row-record.js";
import { scoreAnswer } from "./score.js";
import { rowJudging } from "./judge-accuracy.js";
import { isRowFailure, type Solver } from "./solver.js";
import { isJudged, specKey, type StrategySpec } from "./strategy-spec.js";
import { markdownSummary, summarise, type StrategySummary } from "./summary.js";

export interface EvalOptions {
  items: EvalItem[];
  specs: StrategySpec[];
  solver: Solver;
  judge: JudgeMode;
  seed: number;
  /** The benchmark file's path (its name is recorded). */
  data: string;
  outDir: string;
  resume?: boolean;
  /** The server measured (recorded with each row), for --url runs. */
  url?: string;
  /** Relative tolerance of numeric answers. */
  tolerance?: number;
  signal?: AbortSignal;
  onProgress?: (progress: EvalProgress) => void;
}

export interface EvalProgress {
  spec: StrategySpec;
  /** Rows of this strategy done, resumed ones included, and its total. */
  done: number;
  total: number;
  correct: number;
  /** The row just done; undefined for the first report of a strategy (what was resumed). */
  row?: RowRecord;
}

export interface EvalOutcome {
  /** This run's strategies. */
  summaries: StrategySummary[];
  /** Every results file in the folder (earlier runs too, e.g. with the other judge). */
  all: StrategySummary[];
}

const emptyStages = () => Object.fromEntries(STAGES.map((s) => [s, ""])) as Record<Stage, string>;

/** The files of one strategy's results in `outDir`. */
export function outputPaths(outDir: string, key: string) {
  return {
    rows: join(outDir, `${key}.jsonl`),
    tsv: join(outDir, `${key}.tsv`),
    summaryJson: join(outDir, `${key}.summary.json`),
    summaryMd: join(outDir, `${key}.summary.md`),
  };
}

export async function runEval(o: EvalOptions): Promise<EvalOutcome> {
  mkdirSync(o.outDir, { recursive: true });
  const summaries: StrategySummary[] = [];
  // Check every strategy's file before running any, so a refused resume costs nothing.
  const plans = o.specs.map((spec) => {
    const run: RunSettings = {
      label: spec.label,
      strategy: spec.strategy,
      width: spec.width ?? (spec.strategy === "single" || spec.strategy === "retrace" ? null : 2),
      judge: isJudged(spec) ? o.judge : null,
      seed: o.seed,
      data: basename(o.data),
      url: o.url ?? null,
    };
    const key = specKey(spec, o.judge);
    const paths = outputPaths(o.outDir, key);
    const logged = readRowLog(paths.rows);
    if (logged.rows.length > 0 && !o.resume) {
      throw createError("INVALID_ARGUMENT", `${paths.rows} already holds ${logged.rows.length} results: pass --resume to continue that run, or choose another --out`);
    }
    for (const row of logged.rows) {
      const differs = (["strategy", "width", "judge", "seed", "data", "url"] as const).find((k) => row.run?.[k] !== run[k]);
      if (differs) {
        throw createError("INVALID_ARGUMENT", `${paths.rows} holds results of another run (its ${differs} is ${JSON.stringify(row.run?.[differs])}, this run's ${JSON.stringify(run[differs])}): choose another --out to keep both`);
      }
    }
    return { spec, key, run, paths, logged };
  });
  let all: StrategySummary[] = [];
  try {
    for (const plan of plans) {
      const summary = await runStrategy(o, plan);
      if (summary) summaries.push(summary);
    }
  } finally {
    // Also when interrupted: the comparison of everything done so far.
    all = writeComparison(o.outDir);
  }
  return { summaries, all };
}

interface Plan {
  spec: StrategySpec;
  key: string;
  run: RunSettings;
  paths: ReturnType<typeof outputPaths>;
  logged: ReturnType<typeof readRowLog>;
}

/** Runs the rows of one strategy not yet done; writes its outputs (also when interrupted). */
async function runStrategy(o: EvalOptions, { spec, key, run, paths, logged }: Plan): Promise<StrategySummary | null> {
  const rows = [...logged.rows];
  const done = new Set(rows.map((r) => r.id));
  const wanted = new Set(o.items.map((i) => i.id));
  // This run's items only: a resumed file may hold rows beyond a smaller --limit.
  const mine = () => rows.filter((r) => wanted.has(r.id));
  const report = (row?: RowRecord) => {
    const m = mine();
    o.onProgress?.({ spec, done: m.length, total: o.items.length, correct: m.filter((r) => r.correct).length, ...(row ? { row } : {}) });
  };
  report();
  let summary: StrategySummary | null = null;
  const log = new RowLog(paths.rows, logged.intactBytes);
  try {
    for (const item of o.items) {
      if (done.has(item.id)) continue;
      const row = await evaluateRow(o, item, spec, run);
      log.append(row);
      rows.push(row);
      done.add(item.id);
      report(row);
    }
  } finally {
    log.close();
    // Also when interrupted: the outputs of the rows done so far.
    const m = mine();
    summary = m.length > 0 ? writeOutputs(o.outDir, key, m) : null;
  }
  return summary;
}

async function evaluateRow(o: EvalOptions, item: EvalItem, spec: StrategySpec, run: RunSettings): Promise<RowRecord> {
  const base = {
    id: item.id,
    run,
    category: item.category ?? null,
    question: item.question,
    hint: item.hint ?? null,
    choices: item.choices ?? null,
    answer: item.answer,
  };
  const started = performance.now();
  try {
    const solution = await o.solver({ question: questionPrompt(item), image: item.image, spec, seed: o.seed, signal: o.signal });
    const wallMs = performance.now() - started;
    const score = scoreAnswer(item, solution.conclusion, { tolerance: o.tolerance });
    return {
      ...base,
      prediction: solution.conclusion,
      scorer: score.scorer,
      extracted: score.extracted,
      correct: score.correct,
      stages: solution.stages,
      counts: solution.counts,
      timings: { wallMs, stagesMs: solution.stagesMs },
      problems: solution.problems,
      error: null,
      judging: rowJudging(solution.tree, item, { tolerance: o.tolerance }),
      ...(solution.tree === undefined ? {} : { tree: solution.tree }),
    };
  } catch (error) {
    if (o.signal?.aborted || !isRowFailure(error)) throw error;
    const score = scoreAnswer(item, "");
    return {
      ...base,
      prediction: "",
      scorer: score.scorer,
      extracted: null,
      correct: false,
      stages: emptyStages(),
      counts: { generatedTokens: null, promptTokens: null, judgeCalls: null, imageEncodes: null, candidates: null },
      timings: { wallMs: performance.now() - started, stagesMs: {} },
      problems: [],
      error: `[${error.code}] ${error.message}`,
      judging: null,
    };
  }
}

function writeOutputs(outDir: string, key: string, rows: RowRecord[]): StrategySummary {
  const paths = outputPaths(outDir, key);
  const summary = summarise(key, rows);
  writeFileSync(paths.tsv, predictionTsv(rows));
  writeFileSync(paths.summaryJson, `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(paths.summaryMd, markdownSummary([summary]));
  return summary;
}

/** summary.json, summary.md and accuracy-vs-time.svg over every results file in the folder. */
export function writeComparison(outDir: string): StrategySummary[] {
  const all = readdirSync(outDir)
    .filter((f) => f.endsWith(".jsonl"))
    .sort()
    .flatMap((f) => {
      let rows: RowRecord[];
      try {
        rows = readRowLog(join(outDir, f)).rows;
      } catch {
        return []; // a JSONL of something else in the folder
      }
      return rows.length > 0 && rows.every((r) => r.run && typeof r.correct === "boolean") ? [summarise(f.slice(0, -".jsonl".length), rows)] : [];
    });
  if (all.length === 0) return all;
  writeFileSync(join(outDir, "summary.json"), `${JSON.stringify(all, null, 2)}\n`);
  writeFileSync(join(outDir, "summary.md"), markdownSummary(all));
  writeFileSync(join(outDir, "accuracy-vs-time.svg"), accuracyChart(all));
  return all;
}
