// Scores for candidates, used by retrace (SWIRES) and as tie-breakers: the user's async verifier (the
// paper's external reward model), the model's own judge turned into a score, or the mean token
// probability. All in [0, 1], higher is better.
import type { Candidate, SearchRun } from "./search.js";
import type { StageTexts } from "./choose-stage.js";
import type { CandidateKind } from "./trace.js";

export function meanTokenProbability(candidate: Candidate): number {
  const mean = candidate.record.meanLogprob;
  return mean !== undefined && Number.isFinite(mean) ? Math.exp(mean) : 0;
}

const GOOD_PREFIX = "Is this response good? Answer:";

/** The judge as a score: the probability it gives to "yes" over "no" for one candidate (logprob read). */
async function judgeScore(run: SearchRun, kind: CandidateKind, candidate: Candidate): Promise<number> {
  const text = `Question: ${run.options.question}\nResponse (${kind.toLowerCase()}): ${candidate.record.content}\n${GOOD_PREFIX}`;
  const sequence = await run.sequenceFrom(run.userTurn(text, true), false);
  try {
    const yes = run.engine.tokenize(" yes", { addSpecial: false });
    const no = run.engine.tokenize(" no", { addSpecial: false });
    const { next } = await sequence.evaluate(yes.slice(0, -1), { signal: run.options.signal, logprobs: { probes: [yes.at(-1)!, no.at(-1)!] } });
    const [py, pn] = next!.probes.map(Math.exp) as [number, number];
    run.judgeCalls += 1;
    return py + pn > 0 ? py / (py + pn) : 0.5;
  } finally {
    await run.release(sequence);
  }
}

/** Whether score() reads the candidates' mean token logprob: they must then be sampled with logprobs. */
export function scoresByMeanLogprob(run: SearchRun): boolean {
  return !run.options.verifier && run.options.scorer === "mean-logprob";
}

export async function score(run: SearchRun, kind: CandidateKind, candidate: Candidate, previous: StageTexts): Promise<number> {
  let value: number;
  if (!candidate.record.valid) value = 0;
  else if (run.options.verifier) {
    value = await run.options.verifier(kind, candidate.record.content, { question: run.options.question, previous });
  } else if (scoresByMeanLogprob(run)) {
    value = meanTokenProbability(candidate);
  } else {
    value = await judgeScore(run, kind, candidate);
  }
  candidate.record.score = value;
  return value;
}
