// Rows answered by reason() on a model loaded in this process, on one context the whole run reuses.
import type { Context } from "../context.js";
import type { Model } from "../model.js";
import type { ForceStructure, JudgeMode } from "../reasoning/options.js";
import type { Solver } from "./solver.js";

export interface LocalSolverOptions {
  model: Model;
  context: Context;
  judge: JudgeMode;
  forceStructure?: ForceStructure;
  maxStageTokens?: number;
  temperature?: number;
  topP?: number;
  /** A chat template instead of the model's own (name or Jinja). */
  template?: string;
}

export function localSolver(o: LocalSolverOptions): Solver {
  return async ({ question, image, spec, seed, signal }) => {
    // Each row starts cold: the same image left by another strategy's run of this row would make this
    // one look cheaper than it is for a new question.
    await o.context.prefixCache?.clear();
    const result = await o.model.reason({
      context: o.context,
      question,
      image,
      strategy: spec.strategy,
      width: spec.width,
      seed,
      judge: o.judge,
      forceStructure: o.forceStructure,
      maxStageTokens: o.maxStageTokens,
      temperature: o.temperature,
      topP: o.topP,
      template: o.template,
      signal,
    });
    const { counts } = result;
    return {
      conclusion: result.conclusion,
      stages: result.stages,
      counts: {
        generatedTokens: counts.generatedTokens,
        promptTokens: counts.promptTokens,
        judgeCalls: counts.judgeCalls,
        imageEncodes: counts.imageEncodes,
        candidates: counts.candidates,
      },
      stagesMs: Object.fromEntries(Object.entries(result.timings.stagesMs).filter((e): e is [string, number] => e[1] !== undefined)),
      problems: result.problems,
      tree: result.tree,
    };
  };
}
