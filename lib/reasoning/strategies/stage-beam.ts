// Stage-level beam search (the paper's method): for each stage, `width` candidates forked from the
// current prefix and generated in one batch; one kept by pairwise judging; its exact tokens (its own
// sequence) become the prefix of the next stage.
import { chooseStage, type StageTexts } from "../choose-stage.js";
import type { SearchRun } from "../search.js";
import { STAGES } from "../stages.js";
import type { StrategyOutcome } from "./strategy.js";

export async function stageBeam(run: SearchRun, width = run.options.width): Promise<StrategyOutcome> {
  let prefix = await run.prefixFrom(run.questionInput());
  const stages: StageTexts = {};
  let text = "";
  for (const stage of STAGES) {
    const winner = await chooseStage(run, prefix, stage, width, stages);
    await run.release(prefix);
    prefix = winner.sequence;
    stages[stage] = winner.record.content;
    text += winner.record.text;
  }
  await run.release(prefix);
  return { stages, text };
}
