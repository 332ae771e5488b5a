// What every strategy returns to reason(): the chosen text of each stage and the whole answer text.
import type { StageTexts } from "../choose-stage.js";

export interface StrategyOutcome {
  stages: StageTexts;
  /** The answer as generated, tags included. */
  text: string;
}
