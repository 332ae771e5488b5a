// How good the search's parts are on a row, from its search tree: of the final answers it generated, was
// any right (the most a perfect judge could reach: the generator's share), and of the judge's choices
// between a right and a wrong final answer, how many picked the right one (the judge's share). Together
// they say whether a search that does not help lacks good candidates or a judge that finds them.
import { parseStage } from "../reasoning/stages.js";
import type { CandidateRecord, JudgementRecord } from "../reasoning/trace.js";
import type { EvalItem } from "./item.js";
import { scoreAnswer, type ScoreOptions } from "./score.js";

export interface RowJudging {
  /** Final answers generated (CONCLUSION candidates, or whole answers for best-of-n). */
  answers: number;
  /** How many of them are right. */
  rightAnswers: number;
  /** Judgements between one right and one wrong final answer, and how many chose the right one. */
  decisivePairs: number;
  judgeRight: number;
}

/** The judging of a row's search tree; null when there is no tree (a remote run). */
export function rowJudging(tree: unknown, item: Pick<EvalItem, "choices" | "answer">, options: ScoreOptions = {}): RowJudging | null {
  if (typeof tree !== "object" || tree === null || !("candidates" in tree) || !("judgements" in tree)) return null;
  const { candidates, judgements } = tree as { candidates: CandidateRecord[]; judgements: JudgementRecord[] };
  const final = (c: CandidateRecord) => c.kind === "CONCLUSION" || c.kind === "ANSWER";
  const right = new Map<number, boolean>();
  for (const c of candidates.filter(final)) {
    const conclusion = c.kind === "ANSWER" ? parseStage(c.content, "CONCLUSION").content : c.content;
    right.set(c.id, c.valid && scoreAnswer(item, conclusion, options).correct);
  }
  let decisivePairs = 0;
  let judgeRight = 0;
  for (const j of judgements) {
    if (j.type !== "pairwise" || (j.kind !== "CONCLUSION" && j.kind !== "ANSWER") || j.winner === undefined) continue;
    const [a, b] = j.candidates.map((id) => right.get(id));
    if (a === undefined || b === undefined || a === b) continue;
    decisivePairs++;
    if (right.get(j.winner)) judgeRight++;
  }
  return { answers: right.size, rightAnswers: [...right.values()].filter(Boolean).length, decisivePairs, judgeRight };
}
