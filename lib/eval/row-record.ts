// One evaluated row as the results JSONL keeps it: the question as asked, the reference, the
// prediction and its score, every stage, counts and timings. The JSONL is the record of a run: the
// prediction TSV, the summaries and the chart are all written from it, and --resume reads it back.
import type { JudgeMode, StrategyName } from "../reasoning/options.js";
import type { Stage } from "../reasoning/stages.js";
import type { RowJudging } from "./judge-accuracy.js";
import type { ScorerName } from "./score.js";

/** What produced a row; rows of one results file must agree on it. */
export interface RunSettings {
  /** The strategy as written: "stage-beam:4". */
  label: string;
  strategy: StrategyName;
  width: number | null;
  judge: JudgeMode | null;
  seed: number;
  /** The benchmark file's name (not its folder, so a moved file resumes). */
  data: string;
  /** The server measured, when the run went through --url. */
  url: string | null;
}

/** Work a row cost. Null where it was not measured: a remote server reports only token usage. */
export interface RowCounts {
  generatedTokens: number | null;
  promptTokens: number | null;
  judgeCalls: number | null;
  imageEncodes: number | null;
  candidates: number | null;
}

export interface RowRecord {
  id: string;
  run: RunSettings;
  category: string | null;
  /** The item's question (the prompt asked is built from it, the hint and the choices). */
  question: string;
  hint: string | null;
  choices: Record<string, string> | null;
  answer: string;
  /** The conclusion: the answer the model gave. */
  prediction: string;
  scorer: ScorerName;
  extracted: string | null;
  correct: boolean;
  stages: Record<Stage, string>;
  counts: RowCounts;
  timings: { wallMs: number; stagesMs: Record<string, number> };
  /** Format problems the search met, reported not thrown. */
  problems: string[];
  /** The row could not be answered (its image did not decode, the server refused it); it counts as wrong. */
  error: string | null;
  /** Right final answers among those generated, and the judge's picks between right and wrong ones (local runs; null remote). */
  judging: RowJudging | null;
  /** The search tree (local runs): every candidate and judgement. */
  tree?: unknown;
}
