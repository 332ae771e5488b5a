// reason(): one staged-reasoning search with the chosen strategy, on any engine context. Returns the
// conclusion, every stage, the search tree, counts and timings; cancellable with `signal`, freeing every
// sequence it made; deterministic for a given seed.
import type { EngineContext } from "../engine/types.js";
import { throwIfAborted } from "../abort.js";
import { checkOptions, describe } from "./check-options.js";
import { resolveOptions, type ReasonOptions, type StrategyName } from "./options.js";
import { enterRoom, restartLater, RestartSearch } from "./room.js";
import { SearchRun } from "./search.js";
import { STAGES, type Stage } from "./stages.js";
import { bestOfN } from "./strategies/best-of-n.js";
import { retrace } from "./strategies/retrace.js";
import { sentenceBeam } from "./strategies/sentence-beam.js";
import { single } from "./strategies/single.js";
import { stageBeam } from "./strategies/stage-beam.js";
import type { StrategyOutcome } from "./strategies/strategy.js";
import type { ReasonResult } from "./trace.js";
import { createError } from "../errors.js";

export const strategies: Record<StrategyName, (run: SearchRun) => Promise<StrategyOutcome>> = {
  single,
  "stage-beam": (run) => stageBeam(run),
  "best-of-n": bestOfN,
  "sentence-beam": sentenceBeam,
  retrace,
};

/**
 * The most sequences a search holds at once (stage-beam and the like): while reasoning checks run, the
 * prefix, the candidates, a check and a fork of it per candidate, and the checks' shared lead (3W + 2;
 * other moments hold fewer), plus one to spare; retrace keeps captions,
 * reasonings and their conclusions alive together.
 */
export function sequencesNeeded(o: ReturnType<typeof resolveOptions>): number {
  if (o.strategy === "retrace") {
    const r = o.retrace;
    return 3 + r.captions + r.keepCaptions * (1 + r.reasoningsPerCaption) * (r.maxRetraces + 1) + r.finalists;
  }
  const width = o.strategy === "single" ? 1 : o.width;
  return 3 * width + 3;
}

export async function reason(engine: EngineContext, options: ReasonOptions): Promise<ReasonResult> {
  const resolved = resolveOptions(options);
  // Own keys only: "toString" or "constructor" are in every object.
  if (!Object.hasOwn(strategies, resolved.strategy)) {
    throw createError("INVALID_ARGUMENT", `unknown strategy ${describe(resolved.strategy)}: use one of ${Object.keys(strategies).join(", ")}`);
  }
  if (!Number.isInteger(resolved.width) || resolved.width < 1) {
    throw createError("INVALID_ARGUMENT", `width must be a positive integer, got ${describe(resolved.width)}`);
  }
  if (typeof resolved.question !== "string" || resolved.question.length === 0) {
    throw createError("INVALID_ARGUMENT", "question must be a non-empty string");
  }
  checkOptions(resolved);
  throwIfAborted(resolved.signal);
  // Wait for the sequences this search may hold at once, rather than fail when others hold them.
  const release = await engine.reserveSequences?.(sequencesNeeded(resolved), resolved.signal);
  const before = { ...engine.stats };
  const started = Date.now();
  const leave = enterRoom(engine);
  let run: SearchRun;
  let outcome: StrategyOutcome;
  try {
    for (;;) {
      run = new SearchRun(engine, resolved);
      try {
        outcome = await strategies[resolved.strategy](run);
        break;
      } catch (error) {
        await run.releaseAll();
        if (!(error instanceof RestartSearch)) throw error;
        // Concurrent searches filled the cache: start over (same seed, same result) once one finishes.
        run.emit({ type: "restart", reason: "context-full" });
        await restartLater(engine);
        throwIfAborted(resolved.signal);
      }
    }
  } finally {
    await run!.releaseAll();
    release?.();
    leave();
  }
  const stages = Object.fromEntries(STAGES.map((s) => [s, outcome.stages[s] ?? ""])) as Record<Stage, string>;
  const after = engine.stats;
  const result: ReasonResult = {
    conclusion: stages.CONCLUSION,
    stages,
    text: outcome.text,
    strategy: resolved.strategy,
    tree: { candidates: run.candidates, judgements: run.judgements },
    problems: run.problems,
    counts: {
      imageEncodes: after.imageEncodes - before.imageEncodes,
      promptTokens: after.promptTokens - before.promptTokens,
      generatedTokens: after.generatedTokens - before.generatedTokens,
      decodeCalls: after.decodeCalls - before.decodeCalls,
      judgeCalls: run.judgeCalls,
      candidates: run.candidates.length,
    },
    timings: { totalMs: Date.now() - started, stagesMs: run.stageMs },
  };
  run.emit({ type: "done", conclusion: result.conclusion });
  return result;
}
