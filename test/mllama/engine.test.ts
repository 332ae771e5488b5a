// The mllama engine's behaviour under the TypeScript Context, on the tiny random-weight pair written in
// TypeScript (no Python): forks share cells and equal fresh sequences, batches equal solo runs, failed
// and aborted calls leave nothing behind, the KV cache fills up cleanly, bad input is a typed error,
// and every search strategy runs on the new engine.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  AbortError,
  ContextFullError,
  loadModel,
  STAGES,
  type Context,
  type Model,
  type Sequence,
  type StrategyName,
} from "../../lib/index.js";
import { createMllamaContext } from "../../lib/mllama/engine.js";
import { tinyMllama } from "../fixtures/models.js";

let model: Model;
const DATE = { date_string: "26 Jul 2024" };

beforeAll(async () => {
  model = await loadModel({ path: tinyMllama().model });
});

afterAll(async () => {
  await model.dispose();
});

const prompt = (question: string) => model.applyChatTemplate([{ role: "user", content: question }], { variables: DATE });

async function prompted(context: Context, question: string): Promise<Sequence> {
  const sequence = context.createSequence();
  await sequence.evaluate(model.tokenize(prompt(question), { parseSpecial: true }));
  return sequence;
}

async function greedy(context: Context, sequences: Sequence[], maxTokens = 16) {
  return context.generate(sequences, { maxTokens, ignoreEog: true, topLogprobs: 2 }).result();
}

test("the file loads on the mllama engine: shape from its weights, tokenizer and template from llama.cpp", () => {
  expect(model.engine).toBe("mllama");
  expect(model.metadata.architecture).toBe("mllama");
  expect(model.metadata.layerCount).toBe(5);
  expect(model.metadata.embeddingSize).toBe(64);
  expect(model.vocabSize).toBe(128257); // Llama 3's 128256 and <|image|>
  expect(model.metadata.chatTemplate).toContain("<|image|>");
  expect(model.tokenize("<|image|>", { addSpecial: false, parseSpecial: true })).toEqual([128256]);
  for (const eog of [128001, 128008, 128009]) expect(model.isEndOfGeneration(eog), `token ${eog}`).toBe(true);
  expect(model.projector).toBeNull();
});

test("the chat template: structured content, no system block with an image, a date block without", () => {
  const text = prompt("Why?");
  expect(text).toBe(
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
      "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
  );
  const withImage = model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: "What is it?" }] }]);
  expect(withImage).toBe("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<|image|>What is it?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  // The rendered prompt starts with BOS: tokenizing it adds no second one.
  expect(model.tokenize(text, { parseSpecial: true }).filter((t) => t === 128000)).toHaveLength(1);
});

describe("forks and batches", () => {
  let context: Context;
  beforeAll(async () => {
    context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1 });
  });
  afterAll(async () => {
    await context.dispose();
  });

  test("a fork shares its parent's cells and generates what a fresh sequence does", async () => {
    const parent = await prompted(context, "Describe a sunset over the sea.");
    const cells = context.usedCells;
    const fork = await parent.fork();
    expect(context.usedCells).toBe(cells); // tagged, not copied
    const fresh = await prompted(context, "Describe a sunset over the sea.");
    const [a, b] = await greedy(context, [fork, fresh]);
    expect(a!.tokens).toEqual(b!.tokens);
    expect(a!.logprobs).toHaveLength(16);
    // Not bit-equal on every CPU: the softmax attention path sums over the whole KV row, masked cells as
    // exact zeros, and the fork's cells (its parent's) and the fresh sequence's sit at other offsets of
    // that row, so ggml's SIMD lanes add the same terms in another order (bit-equal on the machines CI
    // ran on before, ~1e-4 apart on an AMD EPYC with ggml's Zen 4 kernels).
    // Shared cells that were wrong would be off by whole nats.
    for (const [k, logprob] of b!.logprobs!.entries()) expect(Math.abs(a!.logprobs![k]! - logprob)).toBeLessThan(1e-3);
    expect(new Set(a!.tokens).size).toBeGreaterThan(1); // the model is not degenerate
    // seeded sampling too: a fork's cloned sampler draws as a fresh one with the same seed. Top-4, not
    // top-p: over this model's nearly flat 128k-token distribution a nucleus draw lands within 1e-4 of a
    // token boundary often enough for the summation-order noise above to flip it.
    for (const s of [fork, fresh]) s.setSampling({ temperature: 0.8, topK: 4, seed: 5 });
    const [c, d] = await context.generate([fork, fresh], { maxTokens: 12, ignoreEog: true }).result();
    expect(c!.tokens).toEqual(d!.tokens);
    for (const s of [parent, fork, fresh]) await s.dispose();
    expect(context.usedCells).toBe(0);
  });

  test("three sequences in one batch generate what each does alone", async () => {
    const questions = ["One?", "A much longer second question about rivers and mountains?", "Three, with digits 12345?"];
    const together = await Promise.all(questions.map((q) => prompted(context, q)));
    const batched = await greedy(context, together, 12);
    for (const [i, question] of questions.entries()) {
      const alone = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
      const [solo] = await greedy(alone, [await prompted(alone, question)], 12);
      expect(batched[i]!.tokens, question).toEqual(solo!.tokens);
      // ggml's CPU kernels take other paths for other batch shapes (summation order): tiny differences only.
      for (const [k, logprob] of solo!.logprobs!.entries()) expect(Math.abs(batched[i]!.logprobs![k]! - logprob)).toBeLessThan(1e-3);
      await alone.dispose();
    }
    for (const s of together) await s.dispose();
  });

  test("a prompt longer than one ubatch is evaluated in pieces with the same result", async () => {
    const small = await model.createContext({ contextSize: 1024, sequences: 2, threads: 1, batchSize: 512, ubatchSize: 16 });
    const long = "a long prompt with many words ".repeat(12);
    const [chunked] = await greedy(small, [await prompted(small, long)], 8);
    const [whole] = await greedy(context, [await prompted(context, long)], 8);
    expect(chunked!.tokens).toEqual(whole!.tokens);
    await small.dispose();
  });
});

describe("failures leave nothing behind", () => {
  test("aborting mid-generation rejects, and the sequence continues as a fresh one would", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1 });
    const sequence = await prompted(context, "Tell me a long story");
    const controller = new AbortController();
    let seen = 0;
    const run = async () => {
      for await (const _ of context.generate([sequence], { maxTokens: 500, ignoreEog: true, signal: controller.signal })) {
        if (++seen === 5) controller.abort();
      }
    };
    await expect(run()).rejects.toBeInstanceOf(AbortError);
    const [next] = await context.generate([sequence], { maxTokens: 6, ignoreEog: true }).result();
    const fresh = context.createSequence();
    await fresh.evaluate(sequence.tokens.slice(0, sequence.tokens.length - 6));
    const [expected] = await context.generate([fresh], { maxTokens: 6, ignoreEog: true }).result();
    expect(next!.tokens).toEqual(expected!.tokens);
    await context.dispose();
  });

  test("an aborted prompt evaluation adds nothing to the cache", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 2, batchSize: 16, threads: 1 });
    const sequence = context.createSequence();
    const controller = new AbortController();
    const pending = sequence.evaluate(model.tokenize("word ".repeat(300)), { signal: controller.signal });
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(AbortError);
    expect(context.usedCells).toBe(0);
    await sequence.evaluate("works afterwards");
    const [r] = await context.generate([sequence], { maxTokens: 4, ignoreEog: true }).result();
    expect(r!.tokens).toHaveLength(4);
    await context.dispose();
  });

  test("filling every free cell works, one more is CONTEXT_FULL, and freed cells are reused", async () => {
    const context = await model.createContext({ contextSize: 256, sequences: 4, threads: 1 });
    const a = context.createSequence();
    await a.evaluate(model.tokenize("x ".repeat(100)));
    const b = await a.fork();
    await context.generate([b], { maxTokens: context.freeCells, ignoreEog: true }).result();
    expect(context.freeCells).toBe(0);
    const c = await a.fork();
    await expect(context.generate([c], { maxTokens: 1 }).result()).rejects.toBeInstanceOf(ContextFullError);
    await b.dispose();
    const [r] = await context.generate([c], { maxTokens: 3, ignoreEog: true }).result();
    expect(r!.tokens).toHaveLength(3);
    await context.dispose();
  });

  test("the native context refuses what would corrupt the cache, with typed errors", async () => {
    const native = await createMllamaContext(model.mllama!, model.native, { contextSize: 64, sequences: 2, threads: 1 });
    const decode = (tokens: number[], positions: number[], seq = 0) =>
      native.decode({
        tokens: Int32Array.from(tokens),
        positions: Int32Array.from(positions),
        seqIds: new Int32Array(tokens.length).fill(seq),
        outputs: new Uint8Array(tokens.length),
        samplers: [],
        topK: 0,
      });
    const code = async (promise: () => Promise<unknown>) => {
      try {
        await promise();
      } catch (error) {
        return (error as { code?: string }).code;
      }
      return "resolved";
    };
    expect(await code(() => decode([128256], [0]))).toBe("INVALID_TOKEN"); // <|image|> comes with an image
    expect(await code(() => decode([128257], [0]))).toBe("INVALID_TOKEN");
    expect(await code(() => decode([1, 2], [0, 2]))).toBe("INVALID_ARGUMENT"); // a gap in positions
    expect(await code(() => decode([1], [64]))).toBe("CONTEXT_FULL");
    expect(await code(() => decode([1], [0], 2))).toBe("INVALID_SEQUENCE");
    await decode([1, 2, 3], [0, 1, 2]);
    expect(native.seqPosMax(0)).toBe(2);
    expect(await code(() => decode([4], [1]))).toBe("INVALID_ARGUMENT"); // position 1 is taken
    native.seqCopy(0, 1);
    native.seqRemove(0, 1);
    expect([native.seqPosMin(0), native.seqPosMax(0), native.seqPosMax(1)]).toEqual([0, 0, 2]);
    native.dispose();
  });

  test("the image token cannot be evaluated as text through the public API either", async () => {
    const context = await model.createContext({ contextSize: 256, sequences: 2, threads: 1 });
    const sequence = context.createSequence();
    await expect(sequence.evaluate([128000, 128256, 9906], { logprobs: {} })).rejects.toMatchObject({ code: "INVALID_TOKEN" });
    expect(context.usedCells).toBe(0);
    await context.dispose();
  });

  test("the projector file given as the model is a clear INVALID_ARGUMENT", async () => {
    await expect(loadModel({ path: tinyMllama().projector })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  });
});

describe.each(["single", "stage-beam", "best-of-n", "sentence-beam", "retrace"] as StrategyName[])("reason() without an image: %s", (strategy) => {
  test.each(["generate", "logprob"] as const)("runs end to end with the %s judge and releases every sequence", async (judge) => {
    const context = await model.createContext({ contextSize: 4096, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });
    const extra = strategy === "sentence-beam" ? { maxStageTokens: 32 } : {};
    const result = await model.reason({
      question: "Which is larger, 7 or 12?",
      strategy,
      judge,
      width: 2,
      seed: 3,
      forceStructure: "grammar",
      maxStageTokens: 8,
      maxJudgeTokens: 12,
      ...extra,
      context,
    });
    for (const stage of STAGES) expect(result.stages[stage].length, `${stage} of ${result.text}`).toBeGreaterThan(0);
    expect(result.text).toContain("</CONCLUSION>");
    expect(result.counts.imageEncodes).toBe(0);
    expect(context.freeSequences).toBe(48 - context.prefixCache!.size);
    await context.dispose();
  }, 120_000);
});
