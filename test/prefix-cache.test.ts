import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Context, type Model, type PromptPart } from "../lib/index.js";
import { encodePng, rgbPattern } from "./fixtures/images.js";
import { tinyClip, tinyLlama } from "./fixtures/models.js";

let model: Model;
const imageA = encodePng(56, 56, rgbPattern(56, 56, 11));
const imageB = encodePng(56, 56, rgbPattern(56, 56, 12));
const ask = (image: Uint8Array, question: string): PromptPart[] => ["[INST] ", { image }, `\n${question} [/INST]`];

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
});

afterAll(async () => {
  await model.dispose();
});

async function cold(input: PromptPart[], maxTokens = 10) {
  const context = await model.createContext({ contextSize: 1024, sequences: 2, threads: 1 });
  const sequence = await context.createSequenceFrom(input);
  const [r] = await context.generate([sequence], { maxTokens }).result();
  await context.dispose();
  return r!.tokens;
}

async function continuation(context: Context, input: PromptInput, maxTokens = 10) {
  const sequence = await context.createSequenceFrom(input);
  const [r] = await context.generate([sequence], { maxTokens }).result();
  await sequence.dispose();
  return r!.tokens;
}
type PromptInput = Parameters<Context["createSequenceFrom"]>[0];

describe("prefix cache", () => {
  test("a hit gives the same continuation as a cold evaluation and encodes nothing", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 2 } });
    const input = ask(imageA, "What is in the image?");
    const first = await continuation(context, input);
    expect(context.stats.imageEncodes).toBe(1);
    const prompt = context.stats.promptTokens;
    const second = await continuation(context, input);
    expect(second).toEqual(first);
    expect(second).toEqual(await cold(input));
    expect(context.stats.imageEncodes).toBe(1);
    expect(context.stats.promptTokens).toBe(prompt); // nothing evaluated for the hit
    expect(context.stats.cachedItems).toBeGreaterThan(16);
    await context.dispose();
  });

  test("a second question about the same image reuses the image and evaluates only the new text", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 2 } });
    await continuation(context, ask(imageA, "What is in the image?"));
    const prompt = context.stats.promptTokens;
    const q2 = ask(imageA, "How many people are there?");
    const answer = await continuation(context, q2);
    expect(context.stats.imageEncodes).toBe(1);
    const q2Tokens = model.tokenize("\nHow many people are there? [/INST]", { addSpecial: false }).length;
    expect(context.stats.promptTokens - prompt).toBeLessThanOrEqual(q2Tokens + 1);
    expect(answer).toEqual(await cold(q2));
    await context.dispose();
  });

  test("a prompt that is a prefix of a cached one is served by cutting the cached one back", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 2 } });
    await continuation(context, ask(imageA, "What is in the image? Answer in detail."));
    const short = ["[INST] ", { image: imageA }] as PromptPart[];
    const sequence = await context.createSequenceFrom(short);
    await sequence.evaluate("\nWhat is in the image? [/INST]");
    const [r] = await context.generate([sequence], { maxTokens: 10 }).result();
    expect(context.stats.imageEncodes).toBe(1);
    expect(r!.tokens).toEqual(await cold(ask(imageA, "What is in the image?")));
    await context.dispose();
  });

  test("LRU eviction stays bounded and correct, also for sequences forked before the eviction", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 1 } });
    const inputA = ask(imageA, "Describe it.");
    const inputB = ask(imageB, "Describe it.");
    const keep = await context.createSequenceFrom(inputA); // cached A, then evicted below
    await continuation(context, inputB); // evicts A
    expect(context.prefixCache!.size).toBe(1);
    const [fromEvicted] = await context.generate([keep], { maxTokens: 10 }).result();
    expect(fromEvicted!.tokens).toEqual(await cold(inputA));
    const encodes = context.stats.imageEncodes;
    expect(await continuation(context, inputA)).toEqual(await cold(inputA)); // A must be encoded again
    expect(context.stats.imageEncodes).toBe(encodes + 1);
    await keep.dispose();
    // only the cache's own sequence holds cells now
    expect(context.freeSequences).toBe(7);
    await context.dispose();
  });

  test("the cell budget evicts the least recently used prompts", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 4, cells: 40 } });
    await continuation(context, ask(imageA, "One?"));
    await continuation(context, ask(imageB, "Two?"));
    expect(context.prefixCache!.size).toBe(1); // each prompt holds ~28 cells; two would exceed 40
    await context.dispose();
  });

  test("text is reused only as a whole prompt, never cut: cached and fresh evaluations are identical", async () => {
    const cached = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1, prefixCache: {} });
    const plain = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1 });
    const a = await continuation(cached, "The quick brown fox");
    const b = await continuation(cached, "The quick brown fox jumps");
    expect(cached.stats.cachedItems).toBe(0); // a longer text prompt is evaluated afresh
    const again = await continuation(cached, "The quick brown fox");
    expect(cached.stats.cachedItems).toBe(model.tokenize("The quick brown fox").length);
    expect(a).toEqual(await continuation(plain, "The quick brown fox"));
    expect(b).toEqual(await continuation(plain, "The quick brown fox jumps"));
    expect(again).toEqual(a);
    await cached.dispose();
    await plain.dispose();
  });

  test("remembering a prompt holds no request back: concurrent requests share every step", async () => {
    // Each new prompt is copied into the cache at the next gap between steps, and its request goes on
    // meanwhile. (Awaited behind the cache's lock, the copies let one request a step join the batch:
    // 8 concurrent requests took ~2.5× the steps.)
    const context = await model.createContext({ contextSize: 2048, sequences: 16, threads: 1, prefixCache: { sequences: 4 } });
    const maxTokens = 6;
    const before = context.stats.decodeCalls;
    const results = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const sequence = await context.createSequenceFrom(`[INST] Request ${i}: tell me about rivers number ${i * 7}. [/INST]`);
        const [r] = await context.generate([sequence], { maxTokens, ignoreEog: true }).result();
        await sequence.dispose();
        return r!.tokens;
      }),
    );
    expect(results.every((tokens) => tokens.length === maxTokens)).toBe(true);
    // one step for the eight prompts, then one a token (the prompts' last tokens go with the first)
    expect(context.stats.decodeCalls - before).toBeLessThanOrEqual(1 + maxTokens + 1);
    // and the cache took them: four kept, each holding one id
    expect(context.prefixCache!.size).toBe(4);
    expect(context.freeSequences).toBe(16 - 4);
    // a kept prompt is a hit
    const cachedItems = context.stats.cachedItems;
    const again = await context.createSequenceFrom(`[INST] Request 7: tell me about rivers number 49. [/INST]`);
    expect(context.stats.cachedItems).toBeGreaterThan(cachedItems);
    await again.dispose();
    await context.dispose();
  });

  test("a full cache gives a new prompt the least recently used entry, never one being forked", async () => {
    const context = await model.createContext({ contextSize: 2048, sequences: 12, threads: 1, prefixCache: { sequences: 1 } });
    const inputA = ask(imageA, "Describe it.");
    await continuation(context, inputA); // A is cached
    const images = [13, 14, 15].map((seed) => encodePng(56, 56, rgbPattern(56, 56, seed)));
    // hits on A (forks of the entry) and misses that each want A's place, all at once
    const inputs = [inputA, ask(images[0]!, "Describe it."), inputA, ask(images[1]!, "Describe it."), inputA, ask(images[2]!, "Describe it.")];
    const got = await Promise.all(inputs.map((input) => continuation(context, input, 6)));
    for (const [i, input] of inputs.entries()) expect(got[i]).toEqual(await cold(input, 6));
    expect(context.prefixCache!.size).toBe(1);
    expect(context.freeSequences).toBe(12 - 1); // the cache holds one id, every request's is back
    await context.prefixCache!.clear();
    expect(context.freeSequences).toBe(12);
    await context.dispose();
  });

  test("a cut at an image gives exactly the logprobs of a fresh evaluation", async () => {
    const cached = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1, prefixCache: {} });
    const plain = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1 });
    await continuation(cached, ask(imageA, "First question about it?"));
    const probe = async (context: Context) => {
      const s = await context.createSequenceFrom(ask(imageA, "Second question?"));
      const [r] = await context.generate([s], { maxTokens: 8, logprobs: true }).result();
      await s.dispose();
      return r!.logprobs!;
    };
    const fromCache = await probe(cached);
    expect(fromCache).toHaveLength(8);
    expect(fromCache).toEqual(await probe(plain)); // bit for bit
    await cached.dispose();
    await plain.dispose();
  });
});
