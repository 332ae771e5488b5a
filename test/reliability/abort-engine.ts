// The abort trials, written once for both engines: each abort point is a piece of work on a shared
// model and context, aborted at seeded random moments spread over its unaborted duration. After every
// trial the context holds exactly the cells and sequences it held before; after all of them the same
// context serves the work unaborted with the same result as a fresh context.
import { expect } from "vitest";
import type { Context, Model, ReasonEvent, ReasonOptions } from "../../lib/index.js";
import { abortAt, seededDelays, summarize, timed, type AbortOutcome, type AbortSummary } from "./harness.js";

export interface AbortPoint {
  name: string;
  /** The work, on `context`; `mark` names what it is doing now. Returns what must equal a fresh run. */
  run: (context: Context, signal: AbortSignal | undefined, mark: (phase: string) => void) => Promise<string>;
}

/**
 * Runs `trials` aborted trials of `point` on `context`, checking after each that cells and sequences are
 * back where they were, then once unaborted, comparing with a run on `fresh()`.
 */
export async function abortTrials(
  point: AbortPoint,
  context: Context,
  fresh: () => Promise<Context>,
  trials: number,
  seed: number,
): Promise<AbortSummary> {
  const before = { cells: context.usedCells, free: context.freeSequences };
  const noop = () => {};
  const decodeCallsAtStart = context.stats.decodeCalls;
  const solo = await timed(() => point.run(context, undefined, noop));
  const stepMs = solo / Math.max(1, context.stats.decodeCalls - decodeCallsAtStart);
  const outcomes: AbortOutcome[] = [];
  for (const delay of seededDelays(seed, trials, solo)) {
    let phase = "start";
    const outcome = await abortAt((signal) => point.run(context, signal, (p) => (phase = p)), delay, {
      decodeCalls: () => context.stats.decodeCalls,
      phase: () => phase,
    });
    expect(["ABORTED", "completed"], `${point.name} aborted at ${delay} ms`).toContain(outcome.outcome);
    // Within one step: no native decode starts after the abort (the one then in flight is cancelled).
    expect(outcome.stepsAfter, `${point.name}: decode calls after the abort at ${delay} ms`).toBe(0);
    expect(context.usedCells, `${point.name}: cells after the abort at ${delay} ms`).toBe(before.cells);
    expect(context.freeSequences, `${point.name}: sequences after the abort at ${delay} ms`).toBe(before.free);
    outcomes.push(outcome);
  }
  const after = await point.run(context, undefined, noop);
  const other = await fresh();
  try {
    expect(after, `${point.name}: the context after ${trials} aborts against a fresh one`).toBe(await point.run(other, undefined, noop));
  } finally {
    await other.dispose();
  }
  return summarize(outcomes, stepMs);
}

/** The abort points that run on a context (image encode, prompt, candidates, judges, retrace). */
export function contextPoints(model: Model, image: Uint8Array, longPrompt: string): AbortPoint[] {
  // Through the chat template, so each engine gets its own image marker.
  const withImage = () => ({
    prompt: model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: "What is in the image?" }] }], {
      variables: { date_string: "26 Jul 2024" },
    }),
    images: [image],
  });
  const greedy = { temperature: 0, seed: 1 };
  const reasonWith = (options: Partial<ReasonOptions>) => async (context: Context, signal: AbortSignal | undefined, mark: (p: string) => void) => {
    const onEvent = (e: ReasonEvent) => {
      if (e.type === "prompt") mark("prompt");
      else if (e.type === "stage-start") mark(e.round > 0 && options.strategy === "retrace" ? `retrace round ${e.round}` : `candidates ${e.kind}`);
      else if (e.type === "judgement") mark("judging");
    };
    const result = await model.reason({
      image,
      question: "What is shown in the image?",
      seed: 3,
      forceStructure: "grammar",
      maxStageTokens: 8,
      maxJudgeTokens: 8,
      ...options,
      context,
      signal,
      onEvent,
    });
    return JSON.stringify({ text: result.text, tree: result.tree });
  };
  return [
    {
      name: "image encode",
      run: async (context, signal, mark) => {
        mark("image");
        const sequence = await context.createSequenceFrom(withImage(), { signal, sampling: greedy });
        try {
          const result = await context.generate([sequence], { maxTokens: 2, ignoreEog: true, signal }).result();
          return JSON.stringify(result.map((r) => r.tokens));
        } finally {
          await sequence.dispose();
        }
      },
    },
    {
      name: "prompt evaluation",
      run: async (context, signal, mark) => {
        mark("prompt");
        const sequence = await context.createSequenceFrom(longPrompt, { signal, sampling: greedy });
        try {
          const result = await context.generate([sequence], { maxTokens: 2, ignoreEog: true, signal }).result();
          return JSON.stringify(result.map((r) => r.tokens));
        } finally {
          await sequence.dispose();
        }
      },
    },
    {
      name: "candidate decoding",
      run: async (context, signal, mark) => {
        mark("prompt");
        const prompt = await context.createSequenceFrom("Tell me a story about a lighthouse.", { sampling: { temperature: 0.8, seed: 5 } });
        const forks = [prompt, await prompt.fork(), await prompt.fork(), await prompt.fork()];
        try {
          mark("decoding");
          const result = await context.generate(forks, { maxTokens: 48, ignoreEog: true, signal }).result();
          return JSON.stringify(result.map((r) => r.tokens));
        } finally {
          for (const s of forks) await s.dispose();
        }
      },
    },
    { name: "stage-beam (judging, generate)", run: reasonWith({ strategy: "stage-beam", width: 2, judge: "generate" }) },
    { name: "best-of-n (judging, logprob)", run: reasonWith({ strategy: "best-of-n", width: 3, judge: "logprob" }) },
    {
      name: "retrace",
      run: reasonWith({ strategy: "retrace", retrace: { captions: 2, keepCaptions: 1, reasoningsPerCaption: 2, threshold: 0.99, maxRetraces: 2, finalists: 2 } }),
    },
  ];
}
