// What a strategy's results add up to: accuracy with its 95% Wilson interval, overall and by category,
// and the mean cost of a row (wall time, tokens generated, judge calls, image encodes) — as JSON and as a
// Markdown table comparing strategies.
import type { RowCounts, RowRecord, RunSettings } from "./row-record.js";
import { wilsonInterval } from "./wilson.js";

export interface Accuracy {
  rows: number;
  correct: number;
  accuracy: number;
  /** 95% Wilson interval. */
  low: number;
  high: number;
}

export interface StrategySummary {
  /** The outputs' file stem. */
  key: string;
  run: RunSettings;
  /** Rows that could not be answered (counted wrong). */
  errors: number;
  accuracy: Accuracy;
  byCategory: Record<string, Accuracy>;
  /**
   * The search's parts, from the rows' trees (null for remote runs): `oracle`, rows where some generated
   * final answer was right — what a perfect judge would score; `judge`, of the judge's choices between a
   * right and a wrong final answer, the share that chose the right one.
   */
  oracle: Accuracy | null;
  judge: Accuracy | null;
  /** Means per row; null where not measured (remote runs report only tokens). */
  mean: { wallMs: number } & { [K in keyof RowCounts]: number | null };
}

function proportion(correct: number, rows: number): Accuracy {
  const { low, high } = wilsonInterval(correct, rows);
  return { rows, correct, accuracy: rows ? correct / rows : 0, low, high };
}

const accuracy = (rows: RowRecord[]) => proportion(rows.filter((r) => r.correct).length, rows.length);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);

function mean(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0) / known.length;
}

export function summarise(key: string, rows: RowRecord[]): StrategySummary {
  if (rows.length === 0) throw new Error(`no rows to summarise for ${key}`);
  const categories = [...new Set(rows.map((r) => r.category ?? "(none)"))].sort();
  // Costs of rows that ran: a row that failed at once would pull the means down.
  const ran = rows.filter((r) => r.error === null);
  const counts = (k: keyof RowCounts) => mean(ran.map((r) => r.counts[k]));
  const judged = ran.filter((r) => r.judging);
  return {
    key,
    run: rows[0]!.run,
    errors: rows.length - ran.length,
    accuracy: accuracy(rows),
    oracle: judged.length ? proportion(judged.filter((r) => r.judging!.rightAnswers > 0).length, judged.length) : null,
    judge: judged.length ? proportion(sum(judged.map((r) => r.judging!.judgeRight)), sum(judged.map((r) => r.judging!.decisivePairs))) : null,
    byCategory: Object.fromEntries(categories.map((c) => [c, accuracy(rows.filter((r) => (r.category ?? "(none)") === c))])),
    mean: {
      wallMs: mean(ran.map((r) => r.timings.wallMs)) ?? 0,
      generatedTokens: counts("generatedTokens"),
      promptTokens: counts("promptTokens"),
      judgeCalls: counts("judgeCalls"),
      imageEncodes: counts("imageEncodes"),
      candidates: counts("candidates"),
    },
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}`;
const num = (x: number | null, digits = 1) => (x === null ? "–" : x.toFixed(digits));
const cell = (a: Accuracy) => `${pct(a.accuracy)} [${pct(a.low)}, ${pct(a.high)}]`;

export function markdownSummary(summaries: StrategySummary[]): string {
  const out: string[] = [];
  out.push("| strategy | judge | rows | accuracy % [95% CI] | some answer right % | judge picks right % (pairs) | wall s/row | tokens/row | judge calls/row | image encodes/row | errors |");
  out.push("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
  for (const s of summaries) {
    const judge = s.judge && s.judge.rows > 0 ? `${cell(s.judge)} (${s.judge.rows})` : "–";
    out.push(
      `| ${s.run.label} | ${s.run.judge ?? "–"} | ${s.accuracy.rows} | ${cell(s.accuracy)} | ${s.oracle ? pct(s.oracle.accuracy) : "–"} | ${judge} | ${(s.mean.wallMs / 1000).toFixed(2)} | ${num(s.mean.generatedTokens)} | ${num(s.mean.judgeCalls)} | ${num(s.mean.imageEncodes, 2)} | ${s.errors} |`,
    );
  }
  const categories = [...new Set(summaries.flatMap((s) => Object.keys(s.byCategory)))].sort();
  if (categories.length > 1) {
    out.push("", `| category | ${summaries.map((s) => s.key).join(" | ")} |`, `|---|${summaries.map(() => "--:").join("|")}|`);
    for (const c of categories) out.push(`| ${c} | ${summaries.map((s) => (s.byCategory[c] ? `${cell(s.byCategory[c]!)} (n=${s.byCategory[c]!.rows})` : "–")).join(" | ")} |`);
  }
  const runs = [...new Set(summaries.map((s) => `${s.run.data}${s.run.url ? ` via ${s.run.url}` : ""}, seed ${s.run.seed}`))];
  out.push(
    "",
    `Data: ${runs.join("; ")}. Intervals are 95% Wilson score intervals; costs are means over rows that ran. "Some answer right": rows where a final answer the search generated was right (what a perfect judge would reach); "judge picks right": of the judge's choices between a right and a wrong final answer, the share it got right.`,
  );
  return `${out.join("\n")}\n`;
}
