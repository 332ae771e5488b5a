// Judge training examples from generated items, so a small model can act as its own judge as LLaVA-CoT
// does: for every stage a pair (the worked stage and its wrong version, in a seeded order) in the
// pairwise judge's exact prompt, with the answer it should give; and for the reasoning check, the right
// and the wrong reasoning against the true caption, with the verdict on the last line.
import { pairwisePrompt, reasoningCheckPrompt } from "../reasoning/judge-prompts.js";
import { stageHint } from "../reasoning/choose-stage.js";
import { deriveSeed } from "../reasoning/seeds.js";
import { STAGES, type Stage } from "../reasoning/stages.js";
import { seededRandom } from "../seeded-random.js";
import { questionPrompt } from "../eval/question-prompt.js";
import type { SyntheticItem } from "./dataset.js";

export interface JudgeExample {
  id: string;
  kind: "pairwise" | "reasoning-check";
  stage: Stage;
  /** The training item whose image the pairwise judge sees (the reasoning check sees none). */
  item?: string;
  prompt: string;
  target: string;
  /** Pairwise: which response (1 or 2) is the right one. Reasoning check: the verdict. */
  better?: 1 | 2;
  verdict?: "correct" | "incorrect";
}

const WHY: Record<Stage, string> = {
  SUMMARY: "its plan addresses the question asked",
  CAPTION: "its description matches the image",
  REASONING: "its reasoning follows from what the image shows",
  CONCLUSION: "its answer is the one the reasoning supports",
};

export function judgeExamples(item: SyntheticItem, seed: number): JudgeExample[] {
  const random = seededRandom(deriveSeed(seed, "judge", item.id));
  const question = questionPrompt(item);
  const out: JudgeExample[] = STAGES.map((stage) => {
    const better: 1 | 2 = random() < 0.5 ? 1 : 2;
    const [first, second] = better === 1 ? [item.stages[stage], item.wrong[stage]] : [item.wrong[stage], item.stages[stage]];
    return {
      id: `${item.id}-${stage.toLowerCase()}`,
      kind: "pairwise",
      stage,
      item: item.id,
      prompt: pairwisePrompt(stage, question, first, second, stageHint(stage, item.stages)).text,
      target: `Since response ${better} ${WHY[stage]}, I choose response ${better}.`,
      better,
    };
  });
  for (const verdict of ["correct", "incorrect"] as const) {
    const reasoning = verdict === "correct" ? item.stages.REASONING : item.wrong.REASONING;
    out.push({
      id: `${item.id}-check-${verdict}`,
      kind: "reasoning-check",
      stage: "REASONING",
      prompt: reasoningCheckPrompt(question, item.stages.CAPTION, reasoning).text,
      target: `${verdict === "correct" ? "The reasoning agrees with the description." : "The reasoning contradicts the description."}\n${verdict}`,
      verdict,
    });
  }
  return out;
}
