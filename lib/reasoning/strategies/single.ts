// Single pass: no search, one candidate per stage — the baseline every figure of the paper compares
// with. It is stage-beam with width 1, so the same seed gives the same answer through both.
import type { SearchRun } from "../search.js";
import { stageBeam } from "./stage-beam.js";
import type { StrategyOutcome } from "./strategy.js";

export function single(run: SearchRun): Promise<StrategyOutcome> {
  return stageBeam(run, 1);
}
