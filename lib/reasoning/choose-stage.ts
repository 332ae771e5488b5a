// One step of stage-level search: sample `width` candidates of a stage from the prefix (forks, one batch
// per step) and keep one by the tournament. If none is well formed, sample once more, then take the
// candidate with the best mean token logprob (the reference had no answer to this).
import type { EngineSequence } from "../engine/types.js";
import { judgeMayFallBackToMeanLogprob } from "./judge.js";
import { bestByMeanLogprob, type Candidate, type SearchRun } from "./search.js";
import type { Stage } from "./stages.js";
import { tournament } from "./tournament.js";

export type StageTexts = Partial<Record<Stage, string>>;

/** The hint the judge sees for a stage: the caption for REASONING, caption and reasoning for CONCLUSION. */
export function stageHint(stage: Stage, previous: StageTexts): string | undefined {
  if (stage === "REASONING") return previous.CAPTION;
  if (stage === "CONCLUSION") return [previous.CAPTION, previous.REASONING].filter(Boolean).join("\n");
  return undefined;
}

export async function chooseStage(run: SearchRun, prefix: EngineSequence, stage: Stage, width: number, previous: StageTexts, round = 0): Promise<Candidate> {
  run.emit({ type: "stage-start", kind: stage, candidates: width, round });
  const judged = { round, hint: stageHint(stage, previous), caption: previous.CAPTION };
  // Mean logprobs decide only between several candidates: a generate-mode judge's unparseable answer,
  // and the resample when none is well formed. Anywhere else nobody reads them.
  const first = await run.sample(prefix, width, { kind: stage, round, logprobs: width > 1 && judgeMayFallBackToMeanLogprob(run) });
  let winner = await tournament(run, stage, first, judged);
  if (!winner) {
    await run.release(...first.map((c) => c.sequence));
    run.problems.push(`no well-formed ${stage} candidate: sampling once more`);
    const retry = await run.sample(prefix, width, { kind: stage, round: round + 1, logprobs: width > 1 });
    winner = await tournament(run, stage, retry, { ...judged, round: round + 1 });
    if (!winner) {
      const best = bestByMeanLogprob(retry);
      await run.release(...retry.filter((c) => c !== best).map((c) => c.sequence));
      best.record.won = true;
      run.problems.push(`no well-formed ${stage} candidate after resampling: kept the best by mean logprob`);
      winner = best;
    }
  }
  run.emit({ type: "stage-winner", kind: stage, candidate: winner.record.id, text: winner.record.text });
  return winner;
}
