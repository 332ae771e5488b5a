// Decode runs (lib/decode-run.ts, native/decode_run.h): a lone generate() call runs many steps in one
// native call, decoding ahead of JS's verdict and dropping what the verdict stops. Everything here
// compares a context with runs against one without (every step a round trip through JS): the outcome —
// tokens, logprobs, stop reasons, cells, and what the sequences generate afterwards — must be the same.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AbortError, loadModel, type Context, type GenerateOptions, type GenerationRequest, type Model, type Sequence } from "../lib/index.js";
import { tinyLlama } from "./fixtures/models.js";

let model: Model;

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama() });
});

afterAll(async () => {
  await model.dispose();
});

/**
 * A fresh context for each side of a comparison: llama.cpp's kernels round differently for different
 * cache layouts, so both sides start from the same empty cache.
 */
async function on<T>(decodeRuns: boolean, work: (context: Context) => Promise<T>): Promise<T> {
  const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, decodeRuns });
  try {
    return await work(context);
  } finally {
    await context.dispose();
  }
}

const prompts = ["Once upon a time", "The quick brown fox", "In a hole in the ground"];

async function prompted(context: Context, count: number): Promise<Sequence[]> {
  const sequences: Sequence[] = [];
  for (const text of prompts.slice(0, count)) {
    const sequence = context.createSequence();
    await sequence.evaluate(text);
    sequences.push(sequence);
  }
  return sequences;
}

type Request = Omit<GenerationRequest, "sequence">;

/** What a generation leaves behind: its results, the cells used, and what the sequences do next. */
function outcome(requests: Request[], options: GenerateOptions = {}, then = 8) {
  return async (context: Context) => {
    const sequences = await prompted(context, requests.length);
    const results = await context.generate(
      requests.map((r, i) => ({ ...r, sequence: sequences[i]! })),
      options,
    ).result();
    const runs = context.scheduler.stats.runs;
    const cells = context.usedCells;
    const next = await context.generate(sequences.map((sequence) => ({ sequence, maxTokens: then }))).result();
    return {
      results: results.map(({ tokens, logprobs, text, rawText, stopReason, stop }) => ({ tokens, logprobs, text, rawText, stopReason, stop })),
      positions: sequences.map((s) => s.position),
      cells,
      next: next.map((r) => r.tokens),
      runs,
    };
  };
}

/** The same work with runs and without: both outcomes, and how many runs the first generation took. */
async function compared(requests: Request[], options: GenerateOptions = {}) {
  const a = await on(true, outcome(requests, options));
  const b = await on(false, outcome(requests, options));
  return { a: { ...a, runs: 0 }, b: { ...b, runs: 0 }, runs: a.runs, stepwiseRuns: b.runs };
}

const sampled = (seed: number) => ({ temperature: 0.9, topP: 0.95, seed });

describe("a lone generate() call runs its steps natively, with the step-by-step outcome", () => {
  test("one sequence, greedy", async () => {
    const { a, b, runs, stepwiseRuns } = await compared([{ maxTokens: 40, sampling: { temperature: 0 } }]);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(stepwiseRuns).toBe(0);
    expect(a.results[0]!.tokens).toHaveLength(40);
    expect(a).toEqual(b);
  });

  test("three sequences, seeded sampling, logprobs, different budgets", async () => {
    const { a, b, runs } = await compared([
      { maxTokens: 30, logprobs: true, sampling: sampled(1) },
      { maxTokens: 12, logprobs: true, sampling: sampled(2) },
      { maxTokens: 21, sampling: sampled(3) },
    ]);
    expect(runs).toBeGreaterThanOrEqual(1);
    expect(a.results.map((r) => r.tokens.length)).toEqual([30, 12, 21]);
    expect(a).toEqual(b);
  });

  test("a stop string ends the only sequence mid-run: the row decoded ahead is dropped, unsampled", async () => {
    const free = await on(false, outcome([{ maxTokens: 30, sampling: sampled(4) }]));
    const text = free.results[0]!.rawText;
    const stop = text.slice(Math.floor(text.length / 3), Math.floor(text.length / 3) + 3);
    expect(stop.trim().length).toBeGreaterThan(0);
    const { a, b } = await compared([{ maxTokens: 30, stop: [stop], sampling: sampled(4) }]);
    expect(a.results[0]!.stopReason).toBe("stop");
    expect(a.results[0]!.tokens.length).toBeLessThan(30);
    // What the sequence samples next shows no trace of the dropped row: no cell, no sampler draw.
    expect(a).toEqual(b);
  });

  test("a stop string ends one of three: the same for it, reproducible for all", async () => {
    // A stop string from the middle of what the first sequence writes anyway, in the same batch.
    const others = [
      { maxTokens: 30, sampling: sampled(6) },
      { maxTokens: 30, stop: ["never-appears-xyz"], sampling: sampled(7) },
    ];
    const free = await on(false, outcome([{ maxTokens: 30, sampling: sampled(5) }, ...others]));
    const text = free.results[0]!.rawText;
    const stop = text.slice(Math.floor(text.length / 2), Math.floor(text.length / 2) + 3);
    expect(stop.trim().length).toBeGreaterThan(0);
    const requests = [{ maxTokens: 30, stop: [stop], sampling: sampled(5) }, ...others];
    const { a, b } = await compared(requests);
    expect(a.results[0]!.stopReason).toBe("stop");
    expect(a.results[0]).toEqual(b.results[0]);
    expect(a.cells).toBe(b.cells);
    expect(a.positions).toEqual(b.positions);
    // The others go on where the dropped row's cell is free again, so their later sums may round
    // differently from a step-by-step run (as between batch shapes); a run itself is reproducible.
    expect(await on(true, outcome(requests))).toEqual(await on(true, outcome(requests)));
  });

  test("a consumer that stops reading: the sequence holds exactly the tokens it was given", async () => {
    const after = async (context: Context) => {
      const [sequence] = await prompted(context, 1);
      const seen: number[] = [];
      for await (const event of context.generate([{ sequence: sequence!, maxTokens: 50, sampling: sampled(9) }])) {
        seen.push(event.token);
        if (seen.length === 7) break;
      }
      // The break released the sequence: it generates on from its seventh token.
      const [next] = await context.generate([{ sequence: sequence!, maxTokens: 6 }]).result();
      return { seen, position: sequence!.position, cells: context.usedCells, next: next!.tokens };
    };
    const a = await on(true, after);
    expect(a.seen).toHaveLength(7);
    expect(a).toEqual(await on(false, after));
  });

  test("a consumer that waits for other work on the context inside its loop gets it (the run yields)", async () => {
    const during = async (context: Context) => {
      const [sequence, other] = await prompted(context, 2);
      const forks: number[] = [];
      for await (const event of context.generate([{ sequence: sequence!, maxTokens: 20, sampling: { temperature: 0 } }])) {
        if (event.token % 3 === 0) {
          // Memory work and a decode of another sequence, queued behind the run this loop is in.
          const fork = await other!.fork();
          await fork.evaluate(" and");
          forks.push(fork.position);
          await fork.dispose();
        }
      }
      const [result] = await context.generate([{ sequence: sequence!, maxTokens: 5 }]).result();
      return { forks, position: sequence!.position, next: result!.tokens, cells: context.usedCells };
    };
    const a = await on(true, during);
    expect(a.forks.length).toBeGreaterThan(0);
    expect(a).toEqual(await on(false, during));
  });

  test("two calls at once share merged steps and give what they give without runs", async () => {
    const both = async (context: Context) => {
      const sequences = await prompted(context, 2);
      const results = await Promise.all(
        sequences.map((sequence) => context.generate([{ sequence, maxTokens: 16, sampling: { temperature: 0 } }]).result()),
      );
      return results.map(([r]) => r!.tokens);
    };
    expect(await on(true, both)).toEqual(await on(false, both));
  });

  test("an abort ends the run with AbortError; the sequence goes on from where it was", async () => {
    await on(true, async (context) => {
      const [sequence] = await prompted(context, 1);
      const controller = new AbortController();
      const seen: number[] = [];
      const generation = context.generate([{ sequence: sequence!, maxTokens: 400, sampling: sampled(11) }], { signal: controller.signal });
      await expect(
        (async () => {
          for await (const event of generation) {
            seen.push(event.token);
            if (seen.length === 5) controller.abort();
          }
        })(),
      ).rejects.toBeInstanceOf(AbortError);
      expect(seen).toHaveLength(5);
      // Nothing decoded ahead stays in the cache: the sequence (alone on the context) holds its own cells.
      expect(context.usedCells).toBe(sequence!.position);
      const [next] = await context.generate([{ sequence: sequence!, maxTokens: 4 }]).result();
      expect(next!.tokens).toHaveLength(4);
    });
  });

  test("top logprobs go step by step (a run reports sampled tokens only)", async () => {
    const { a, b, runs } = await compared([{ maxTokens: 6, topLogprobs: 3, sampling: { temperature: 0 } }]);
    expect(runs).toBe(0);
    expect(a).toEqual(b);
  });

  test("decodeRuns must be a boolean", async () => {
    await expect(model.createContext({ contextSize: 256, decodeRuns: "yes" as unknown as boolean })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});
