// What answers a row: a search on a model loaded here (local-solver.ts) or a request to a running
// `stagebeam serve` (remote-solver.ts). The runner times the call and scores what comes back.
import type { ImageInput } from "../engine/prompt-input.js";
import { StagebeamError } from "../errors.js";
import type { Stage } from "../reasoning/stages.js";
import type { RowCounts } from "./row-record.js";
import type { StrategySpec } from "./strategy-spec.js";

export interface SolveRequest {
  question: string;
  image?: ImageInput;
  spec: StrategySpec;
  seed: number;
  signal?: AbortSignal;
}

export interface Solution {
  conclusion: string;
  stages: Record<Stage, string>;
  counts: RowCounts;
  stagesMs: Record<string, number>;
  problems: string[];
  tree?: unknown;
}

export type Solver = (request: SolveRequest) => Promise<Solution>;

/**
 * Failures that belong to the row (its image, its length), recorded with the row as wrong; anything
 * else (the model, the server, the disk) stops the run, so that a resumed run retries those rows.
 */
const ROW_CODES = new Set(["INVALID_ARGUMENT", "IMAGE_NOT_FOUND", "INVALID_IMAGE", "UNSUPPORTED_IMAGE", "IMAGE_ENCODE_FAILED", "MEDIA_MARKER_MISMATCH", "CONTEXT_FULL", "INVALID_GRAMMAR", "GRAMMAR_REJECTED"]);

export function isRowFailure(error: unknown): error is StagebeamError {
  return error instanceof StagebeamError && ROW_CODES.has(error.code);
}
