// Sentence-level beam search (the paper's baseline): until </CONCLUSION>, `width` continuations each
// stopping at the end of a sentence, judged on that sentence with the text so far as hint. A "." inside
// a number ("3.14") is no sentence end: a stop needs the dot followed by a space or a line break.
// With structure forcing, each stage is opened by prefill and closed after `SENTENCES_PER_STAGE`
// sentences if the model has not closed it itself.
import { bestByMeanLogprob, type Candidate, type SearchRun } from "../search.js";
import { closeTag, parseAnswer, STAGES, stageOpening } from "../stages.js";
import { tournament } from "../tournament.js";
import type { StrategyOutcome } from "./strategy.js";

export const SENTENCE_ENDS = [". ", ".\n", "! ", "!\n", "? ", "?\n"];
const SENTENCES_PER_STAGE = 2;

/** The index just past the first sentence end in text, or -1. Decimals ("3.14") do not end sentences. */
export function sentenceEnd(text: string): number {
  const match = /[.!?](?=\s)/.exec(text);
  return match ? match.index + 1 : -1;
}

export async function sentenceBeam(run: SearchRun): Promise<StrategyOutcome> {
  const { width, maxStageTokens, forceStructure } = run.options;
  let prefix = await run.prefixFrom(run.questionInput());
  let text = "";
  const budget = maxStageTokens * STAGES.length;
  let used = 0;
  let inStage = 0;
  // Forced structure bounds each stage to a few sentences, so the loop ends; otherwise the budget does.
  const forced = forceStructure !== "off";
  for (let step = 0; !text.includes(closeTag("CONCLUSION")) && (forced || used < budget); step++) {
    if (forced) {
      const open = [...STAGES].reverse().find((s) => text.includes(`<${s}>`));
      if (open && !text.includes(closeTag(open)) && inStage >= SENTENCES_PER_STAGE) {
        await run.append(prefix, ` ${closeTag(open)}`);
        text += ` ${closeTag(open)}`;
        if (open === "CONCLUSION") break;
      }
      const next = STAGES.find((s) => !text.includes(`<${s}>`));
      const previous = next ? STAGES[STAGES.indexOf(next) - 1] : undefined;
      if (next && (!previous || text.includes(closeTag(previous)))) {
        await run.append(prefix, stageOpening(next));
        text += stageOpening(next);
        inStage = 0;
      }
    }
    run.emit({ type: "stage-start", kind: "SENTENCE", candidates: width, round: step });
    const candidates = await run.sample(prefix, width, {
      kind: "SENTENCE",
      round: step,
      stop: [...SENTENCE_ENDS, ...STAGES.map(closeTag)],
      maxTokens: forced ? Math.min(Math.max(8, Math.floor(maxStageTokens / 2)), 64) : Math.min(64, budget - used),
      parseAs: null,
      logprobs: width > 1, // the judge's fallback, and the pick when no sentence is well formed
    });
    const winner: Candidate =
      (await tournament(run, "SENTENCE", candidates, { round: step, hint: text })) ?? bestByMeanLogprob(candidates);
    await run.release(prefix, ...candidates.filter((c) => c !== winner).map((c) => c.sequence));
    prefix = winner.sequence;
    text += winner.record.text;
    inStage += 1;
    used += Math.max(1, winner.record.tokens);
    if (winner.record.tokens === 0) break;
  }
  await run.release(prefix);
  const parsed = parseAnswer(text);
  for (const s of STAGES) if (!parsed[s].wellFormed) run.problems.push(`${s}: ${parsed[s].problem}`);
  return { stages: Object.fromEntries(STAGES.map((s) => [s, parsed[s].content])), text };
}
