// How a chat request asks for staged reasoning: OpenAI's `reasoning_effort`, mapped onto a search, or a
// `stagebeam` object naming the search's settings exactly (its fields win over the effort's).
//   low    → strategy "single" (one candidate per stage)
//   medium → "stage-beam", width 2 (the paper's setting)
//   high   → "stage-beam", width 4
import type { ForceStructure, JudgeMode, StrategyName } from "../reasoning/options.js";
import { integerIn, object, oneOf } from "./field-checks.js";
import { badRequest } from "./http-error.js";

export interface StagedSettings {
  strategy: StrategyName;
  width?: number;
  judge?: JudgeMode;
  forceStructure?: ForceStructure;
  maxStageTokens?: number;
}

export const EFFORTS: Record<string, StagedSettings> = {
  low: { strategy: "single" },
  medium: { strategy: "stage-beam", width: 2 },
  high: { strategy: "stage-beam", width: 4 },
};

const STRATEGIES: readonly StrategyName[] = ["single", "best-of-n", "sentence-beam", "stage-beam", "retrace"];
const JUDGES: readonly JudgeMode[] = ["generate", "logprob"];
const FORCING: readonly ForceStructure[] = ["off", "prefill", "grammar"];
/** Bounds a client cannot exceed: a wider search or longer stage would hold the shared context for everyone. */
export const MAX_WIDTH = 16;
export const MAX_STAGE_TOKENS = 4096;

/** The staged-reasoning settings of a request body, or null for a plain chat completion. */
export function stagedSettings(effort: unknown, stagebeam: unknown): StagedSettings | null {
  if (effort === undefined && stagebeam === undefined) return null;
  let settings: StagedSettings = { strategy: "stage-beam" };
  if (effort !== undefined) {
    if (typeof effort !== "string" || !(effort in EFFORTS)) {
      throw badRequest(`reasoning_effort must be one of ${Object.keys(EFFORTS).join(", ")}, got ${JSON.stringify(effort)}`);
    }
    settings = { ...EFFORTS[effort]! };
  }
  if (stagebeam !== undefined) settings = { ...settings, ...stagebeamObject(stagebeam) };
  return settings;
}

function stagebeamObject(value: unknown): Partial<StagedSettings> {
  const out: Partial<StagedSettings> = {};
  for (const [key, v] of Object.entries(object("stagebeam", value))) {
    switch (key) {
      case "strategy":
        out.strategy = oneOf(`stagebeam.${key}`, v, STRATEGIES);
        break;
      case "judge":
        out.judge = oneOf(`stagebeam.${key}`, v, JUDGES);
        break;
      case "forceStructure":
        out.forceStructure = oneOf(`stagebeam.${key}`, v, FORCING);
        break;
      case "width":
        out.width = integerIn(`stagebeam.${key}`, v, 1, MAX_WIDTH);
        break;
      case "maxStageTokens":
        out.maxStageTokens = integerIn(`stagebeam.${key}`, v, 1, MAX_STAGE_TOKENS);
        break;
      default:
        throw badRequest(`unknown field stagebeam.${key}: the fields are strategy, width, judge, forceStructure, maxStageTokens`);
    }
  }
  return out;
}
