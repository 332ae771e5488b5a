// Best-of-N (the paper's baseline): N complete answers, judged pairwise on the whole text with a generic
// "which better answers the question" criterion. Without structure forcing each answer is one
// generation up to </CONCLUSION>; with forcing, the N answers advance stage by stage, together.
import type { EngineSequence } from "../../engine/types.js";
import { bestByMeanLogprob, type Candidate, type SearchRun } from "../search.js";
import { closeTag, parseAnswer, STAGES } from "../stages.js";
import { tournament } from "../tournament.js";
import type { StrategyOutcome } from "./strategy.js";

export async function bestOfN(run: SearchRun): Promise<StrategyOutcome> {
  const { width, forceStructure, maxStageTokens } = run.options;
  const question = await run.prefixFrom(run.questionInput());
  run.emit({ type: "stage-start", kind: "ANSWER", candidates: width, round: 0 });
  let answers: Candidate[];
  if (forceStructure === "off") {
    answers = await run.sample(question, width, {
      kind: "ANSWER",
      stop: [closeTag("CONCLUSION")],
      maxTokens: maxStageTokens * STAGES.length,
      parseAs: null,
      logprobs: width > 1, // the judge's fallback, and the pick when no answer is well formed
    });
  } else {
    let chains: EngineSequence[] = Array.from({ length: width }, () => question);
    const texts = chains.map(() => "");
    let last: Candidate[] = [];
    for (const stage of STAGES) {
      // An answer keeps its last stage's record, mean logprob included: only that one is read.
      last = await run.sampleEach(chains, { kind: stage, logprobs: width > 1 && stage === STAGES[STAGES.length - 1] });
      await run.release(...chains.filter((c) => c !== question));
      chains = last.map((c) => c.sequence);
      last.forEach((c, i) => (texts[i] += c.record.text));
    }
    answers = last.map((c, i) => ({ ...c, record: { ...c.record, kind: "ANSWER" as const, text: texts[i]!, index: i } }));
    for (const a of answers) {
      a.record.id = run.candidates.length;
      run.candidates.push(a.record);
    }
  }
  await run.release(question);
  // An answer is valid when all four stages parse; it is judged on its whole text.
  for (const a of answers) {
    const parsed = parseAnswer(a.record.text);
    const bad = STAGES.filter((s) => !parsed[s].wellFormed);
    a.record.content = a.record.text.trim();
    a.record.valid = bad.length === 0;
    if (bad.length > 0) a.record.problem = bad.map((s) => `${s}: ${parsed[s].problem}`).join("; ");
  }
  let winner = await tournament(run, "ANSWER", answers, { round: 0 });
  if (!winner) {
    winner = bestByMeanLogprob(answers);
    run.problems.push("no complete well-formed answer: kept the best by mean logprob");
  }
  await run.release(...answers.map((a) => a.sequence));
  const parsed = parseAnswer(winner.record.text);
  return { stages: Object.fromEntries(STAGES.map((s) => [s, parsed[s].content])), text: winner.record.text };
}
