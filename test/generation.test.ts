import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AbortError, loadModel, type Context, type GenerationResult, type Model, type Sequence } from "../lib/index.js";
import { tinyLlama } from "./fixtures/models.js";

let model: Model;
let context: Context;

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama() });
  context = await model.createContext({ contextSize: 2048, sequences: 16, threads: 1 });
});

afterAll(async () => {
  await model.dispose();
});

async function prompted(text: string, sampling?: Parameters<Context["createSequence"]>[0]): Promise<Sequence> {
  const sequence = context.createSequence(sampling);
  await sequence.evaluate(text);
  return sequence;
}

async function generateAlone(text: string, maxTokens: number, sampling = {}, logprobs = false) {
  const sequence = await prompted(text, { sampling });
  const [result] = await context.generate([sequence], { maxTokens, logprobs }).result();
  await sequence.dispose();
  return result!;
}

describe("determinism", () => {
  test("greedy generation is deterministic", async () => {
    const a = await generateAlone("Once upon a time", 24);
    const b = await generateAlone("Once upon a time", 24);
    expect(a.tokens).toHaveLength(24);
    expect(b.tokens).toEqual(a.tokens);
    expect(b.text).toBe(a.text);
  });

  test("seeded sampling is reproducible and different seeds differ", async () => {
    const sampling = (seed: number) => ({ temperature: 1, topP: 0.95, seed });
    const a = await generateAlone("Once upon a time", 24, sampling(1));
    const b = await generateAlone("Once upon a time", 24, sampling(1));
    const c = await generateAlone("Once upon a time", 24, sampling(2));
    expect(b.tokens).toEqual(a.tokens);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  test("logprobs are the model's log-softmax: greedy picks the top token, probabilities sum to at most 1", async () => {
    const sequence = await prompted("The capital of France is");
    const [result] = await context.generate([sequence], { maxTokens: 6, topLogprobs: 1024 }).result();
    const events = [];
    const again = await prompted("The capital of France is");
    for await (const event of context.generate([again], { maxTokens: 6, topLogprobs: 1024 })) events.push(event);
    for (const event of events) {
      expect(event.top![0]!.token).toBe(event.token);
      expect(event.top![0]!.logprob).toBeCloseTo(event.logprob!, 6);
      expect(event.logprob).toBeLessThanOrEqual(0);
      const mass = event.top!.reduce((sum, t) => sum + Math.exp(t.logprob), 0);
      expect(mass).toBeLessThanOrEqual(1 + 1e-5);
      expect(mass).toBeGreaterThan(0.05);
    }
    expect(events.map((e) => e.token)).toEqual(result!.tokens);
    await sequence.dispose();
    await again.dispose();
  });
});

describe("logprobs only when asked", () => {
  const greedy = {};
  const sampled = { temperature: 0.8, topP: 0.95, seed: 11 };

  test.each([
    ["greedy", greedy],
    ["sampled", sampled],
  ])("%s: the same tokens with and without logprobs; without, results and events carry none", async (_, sampling) => {
    const asked = await generateAlone("Once upon a time", 16, sampling, true);
    const plain = await generateAlone("Once upon a time", 16, sampling, false);
    expect(plain.tokens).toEqual(asked.tokens);
    expect(plain.text).toBe(asked.text);
    expect(asked.logprobs).toHaveLength(16);
    expect(plain.logprobs).toBeUndefined();

    const sequence = await prompted("Once upon a time", { sampling });
    const events = [];
    for await (const event of context.generate([sequence], { maxTokens: 16 })) events.push(event);
    await sequence.dispose();
    expect(events.map((e) => e.token)).toEqual(asked.tokens);
    for (const event of events) expect(event).not.toHaveProperty("logprob");
  });

  test("an asked logprob is the sampled token's log-softmax: the same as a probe read of that token", async () => {
    const result = await generateAlone("The capital of France is", 6, sampled, true);
    // Evaluate the prompt and the generated tokens step by step, probing the next generated token.
    const reader = await prompted("The capital of France is");
    for (const [k, token] of result.tokens.entries()) {
      const { next } = await reader.evaluate(k === 0 ? [] : [result.tokens[k - 1]!], { logprobs: { probes: [token] } });
      // Same single-token decodes as generation, so the same logits up to the KV cache's rounding.
      expect(Math.abs(next!.probes[0]! - result.logprobs![k]!)).toBeLessThan(2e-3);
      expect(result.logprobs![k]!).toBeLessThanOrEqual(0);
    }
    await reader.dispose();
  });

  test("in one batch, a request that asks gets exactly what it gets when every request asks; the other gets none", async () => {
    const run = async (secondAsks: boolean) => {
      const a = await prompted("Hello my name is");
      const b = await prompted("The weather today");
      const results = await context
        .generate([
          { sequence: a, maxTokens: 12, logprobs: true, sampling: sampled },
          { sequence: b, maxTokens: 12, logprobs: secondAsks, sampling: { ...sampled, seed: 12 } },
        ])
        .result();
      await a.dispose();
      await b.dispose();
      return results;
    };
    const both = await run(true);
    const first = await run(false);
    expect(first.map((r) => r.tokens)).toEqual(both.map((r) => r.tokens));
    expect(first[0]!.logprobs).toEqual(both[0]!.logprobs);
    expect(first[1]!.logprobs).toBeUndefined();
  });

  test("topLogprobs implies logprobs; a logprobs option that is not a boolean is refused", async () => {
    const result = await generateAlone("Once upon a time", 4, greedy, false);
    const sequence = await prompted("Once upon a time");
    const [withTop] = await context.generate([sequence], { maxTokens: 4, topLogprobs: 2 }).result();
    await sequence.dispose();
    expect(withTop!.tokens).toEqual(result.tokens);
    expect(withTop!.logprobs).toHaveLength(4);
    const other = context.createSequence();
    await expect(context.generate([other], { logprobs: "yes" as unknown as boolean }).result()).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await other.dispose();
  });
});

describe("lockstep batches", () => {
  test("N sequences generated together equal each generated alone", async () => {
    const prompts = ["Hello my name is", "The weather today", "In 1492, Columbus", "def fibonacci(n):"];
    const alone: GenerationResult[] = [];
    for (const p of prompts) alone.push(await generateAlone(p, 20, {}, true));

    const sequences = await Promise.all(prompts.map((p) => prompted(p)));
    const callsBefore = context.stats.decodeCalls;
    const together = await context.generate(sequences, { maxTokens: 20, logprobs: true }).result();
    // one native decode per step, all four sequences in it
    expect(context.stats.decodeCalls - callsBefore).toBe(20);
    together.forEach((r, i) => {
      expect(r.tokens).toEqual(alone[i]!.tokens);
      // Batched matmuls and flash attention accumulate in another order than single-token ones (and
      // the KV cache is F16), so logprobs agree closely but not bit for bit; measured max 6.5e-4.
      r.logprobs!.forEach((lp, j) => expect(Math.abs(lp - alone[i]!.logprobs![j]!)).toBeLessThan(2e-3));
    });
    await Promise.all(sequences.map((s) => s.dispose()));
  });

  test("outputs sampled on several threads (one per sequence) equal those sampled on one", async () => {
    const prompts = ["Hello my name is", "The weather today", "In 1492, Columbus", "def fibonacci(n):", "Once upon a time"];
    const run = async (threads: number) => {
      const ctx = await model.createContext({ contextSize: 1024, sequences: 8, threads });
      const sequences = await Promise.all(prompts.map(async (p) => {
        const s = ctx.createSequence();
        await s.evaluate(p);
        return s;
      }));
      const results = await ctx
        .generate(sequences.map((sequence, i) => ({ sequence, maxTokens: 24, topLogprobs: 3, sampling: { temperature: 0.9, topP: 0.95, seed: 100 + i } })))
        .result();
      await ctx.dispose();
      return results;
    };
    const one = await run(1);
    const four = await run(4);
    four.forEach((r, i) => {
      expect(r.tokens).toEqual(one[i]!.tokens);
      r.logprobs!.forEach((lp, j) => expect(Math.abs(lp - one[i]!.logprobs![j]!)).toBeLessThan(2e-3));
    });
  });

  test("per-request budgets: each sequence stops on its own", async () => {
    const a = await prompted("one two three");
    const b = await prompted("four five six");
    const results = await context.generate([{ sequence: a, maxTokens: 3 }, { sequence: b, maxTokens: 9 }]).result();
    expect(results.map((r) => r.tokens.length)).toEqual([3, 9]);
    expect(results.map((r) => r.stopReason)).toEqual(["maxTokens", "maxTokens"]);
    await a.dispose();
    await b.dispose();
  });

  test("concurrent generate() calls share batch steps and give their solo results", async () => {
    const prompts = ["alpha beta", "gamma delta", "epsilon zeta"];
    const solo: GenerationResult[] = [];
    for (const p of prompts) solo.push(await generateAlone(p, 12));
    const sequences = await Promise.all(prompts.map((p) => prompted(p)));
    const callsBefore = context.stats.decodeCalls;
    const results = await Promise.all(sequences.map((s) => context.generate([s], { maxTokens: 12 }).result()));
    results.forEach(([r], i) => expect(r!.tokens).toEqual(solo[i]!.tokens));
    // three independent callers, far fewer than 3 × 12 native calls
    expect(context.stats.decodeCalls - callsBefore).toBeLessThan(24);
    await Promise.all(sequences.map((s) => s.dispose()));
  });
});

describe("stop rules", () => {
  test("a stop string ends generation; text excludes it, rawText and tokens keep it", async () => {
    const free = await generateAlone("Once upon a time", 30);
    // Pick a stop string from the middle of what greedy decoding produces anyway.
    const middle = free.text.slice(Math.floor(free.text.length / 2));
    const stop = middle.trim().slice(0, 3);
    const index = free.text.indexOf(stop);
    expect(stop.length).toBe(3);

    const sequence = await prompted("Once upon a time");
    const [r] = await context.generate([sequence], { maxTokens: 30, stop: [stop, "never-appears-xyz"] }).result();
    expect(r!.stopReason).toBe("stop");
    expect(r!.stop).toBe(stop);
    expect(r!.text).toBe(free.text.slice(0, index));
    expect(r!.rawText.startsWith(free.text.slice(0, index + 3))).toBe(true);
    expect(r!.tokens).toEqual(free.tokens.slice(0, r!.tokens.length));
    expect(r!.tokens.length).toBeLessThan(30);
    await sequence.dispose();
  });

  test("stop strings in the prompt do not stop generation", async () => {
    const sequence = await prompted("STOP STOP STOP");
    const [r] = await context.generate([sequence], { maxTokens: 5, stop: ["STOP"] }).result();
    expect(r!.tokens.length).toBeGreaterThan(0);
    await sequence.dispose();
  });

  test("end-of-generation stops unless ignored", async () => {
    const eos = model.metadata.specialTokens.eos!;
    const forced = { temperature: 0, logitBias: [[eos, 100]] as [number, number][] };
    const sequence = await prompted("Hi", { sampling: forced });
    const [r] = await context.generate([sequence], { maxTokens: 10 }).result();
    expect(r!.stopReason).toBe("eog");
    expect(r!.tokens).toEqual([eos]);
    expect(r!.text).toBe("");

    const other = await prompted("Hi", { sampling: forced });
    const [ignored] = await context.generate([other], { maxTokens: 4, ignoreEog: true }).result();
    expect(ignored!.stopReason).toBe("maxTokens");
    expect(ignored!.tokens).toHaveLength(4);
    await sequence.dispose();
    await other.dispose();
  });
});

describe("grammar", () => {
  const grammar = 'root ::= ("yes" | "no") ", because " [a-z]{3,8} "."';

  test("every sampled string matches the grammar", async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const sequence = await prompted("Answer:", { sampling: { temperature: 1.5, seed, grammar } });
      const [r] = await context.generate([sequence], { maxTokens: 40 }).result();
      expect(r!.text).toMatch(/^(yes|no), because [a-z]{3,8}\.$/);
      expect(r!.stopReason).toBe("eog");
      await sequence.dispose();
    }
  });

  test("a fork continues its parent's grammar state", async () => {
    const parent = await prompted("Answer:", { sampling: { temperature: 1, seed: 3, grammar } });
    const [head] = await context.generate([parent], { maxTokens: 2 }).result();
    const child = await parent.fork();
    const [rest] = await context.generate([child], { maxTokens: 40 }).result();
    expect(head!.text + rest!.text).toMatch(/^(yes|no), because [a-z]{3,8}\.$/);
    await parent.dispose();
    await child.dispose();
  });
});

describe("abort", () => {
  test("aborting mid-generation rejects promptly and leaves the context usable", async () => {
    const sequence = await prompted("Tell me a long story");
    const controller = new AbortController();
    let seen = 0;
    const started = Date.now();
    const run = async () => {
      for await (const _ of context.generate([sequence], { maxTokens: 1500, signal: controller.signal })) {
        if (++seen === 5) controller.abort();
      }
    };
    await expect(run()).rejects.toBeInstanceOf(AbortError);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(seen).toBeGreaterThanOrEqual(5);
    expect(seen).toBeLessThan(10);
    // The sequence stays consistent: continuing it equals a fresh sequence fed the same tokens.
    const [next] = await context.generate([sequence], { maxTokens: 8 }).result();
    const fresh = context.createSequence();
    await fresh.evaluate(sequence.tokens.slice(0, sequence.tokens.length - 8));
    const [expected] = await context.generate([fresh], { maxTokens: 8 }).result();
    expect(next!.tokens).toEqual(expected!.tokens);
    await sequence.dispose();
    await fresh.dispose();
  });

  test("a consumer that stops iterating (break) releases the sequence: it generates on at once", async () => {
    const sequence = await prompted("Tell me a long story");
    let seen = 0;
    for await (const _ of context.generate([sequence], { maxTokens: 100 })) {
      if (++seen === 4) break;
    }
    const position = sequence.position;
    // A generation left suspended at its last event would hold the lock, and this would wait forever.
    const [next] = await context.generate([sequence], { maxTokens: 3 }).result();
    expect(next!.tokens).toHaveLength(3);
    expect(sequence.position).toBe(position + 3);
    await sequence.dispose();
  });

  test("an aborted prompt evaluation adds nothing to the cache", async () => {
    const small = await model.createContext({ contextSize: 1024, sequences: 2, batchSize: 16, threads: 1 });
    const sequence = small.createSequence();
    const controller = new AbortController();
    const tokens = model.tokenize("word ".repeat(300));
    const pending = sequence.evaluate(tokens, { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect(small.usedCells).toBe(0);
    expect(sequence.length).toBe(0);
    await sequence.evaluate("works afterwards");
    const [r] = await small.generate([sequence], { maxTokens: 4 }).result();
    expect(r!.tokens).toHaveLength(4);
    await small.dispose();
  });
});

describe("contexts with more sequences than a batch holds", () => {
  // llama.cpp caps a step's outputs at the batch size and aborted the process when sequences outnumbered
  // it (GGML_ASSERT n_outputs_max): a fuzz find through `stagebeam run --context-size 1 --width 10000`.
  test.each([
    { contextSize: 512, batchSize: 4, what: "a batch of 4" },
    { contextSize: 1, batchSize: 512, what: "a context of 1 (batches are capped at the context size)" },
  ])("8 sequences with $what step together and generate what they do in a roomy context", async ({ contextSize, batchSize }) => {
    const small = await model.createContext({ contextSize, batchSize, sequences: 8, threads: 1 });
    const run = async (ctx: Context) => {
      const parent = ctx.createSequence();
      await parent.evaluate("Hi");
      const sequences = [parent];
      for (let i = 1; i < 8; i++) sequences.push(await parent.fork());
      for (const [i, s] of sequences.entries()) s.setSampling({ temperature: 1, seed: i });
      const results = await ctx.generate(sequences, { maxTokens: 4, ignoreEog: true }).result();
      for (const s of sequences) await s.dispose();
      return results.map((r) => r.tokens);
    };
    const got = await run(small);
    expect(got).toHaveLength(8);
    expect(got).toEqual(await run(context));
    await small.dispose();
  });
});
