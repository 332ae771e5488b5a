import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ContextFullError, loadModel, SequenceLimitError, type Context, type Model } from "../lib/index.js";
import { tinyLlama } from "./fixtures/models.js";

let model: Model;
let context: Context;
const prefix = "A shared prefix: the image shows a red bicycle leaning on a wall, and the question asks";

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama() });
  context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1 });
});

afterAll(async () => {
  await model.dispose();
});

describe("fork", () => {
  test("a fork continues exactly like a fresh sequence that evaluated the same prefix", async () => {
    const parent = context.createSequence();
    await parent.evaluate(prefix);
    const promptTokens = context.stats.promptTokens;
    const child = await parent.fork();
    expect(context.stats.promptTokens).toBe(promptTokens); // the fork evaluated nothing
    expect(child.tokens).toEqual(parent.tokens);
    expect(child.position).toBe(parent.position);

    const [forked] = await context.generate([child], { maxTokens: 24, logprobs: true }).result();
    const fresh = context.createSequence();
    await fresh.evaluate(prefix);
    const [reference] = await context.generate([fresh], { maxTokens: 24, logprobs: true }).result();

    expect(forked!.tokens).toEqual(reference!.tokens);
    expect(forked!.logprobs).toHaveLength(24);
    forked!.logprobs!.forEach((lp, i) => expect(Math.abs(lp - reference!.logprobs![i]!)).toBeLessThan(1e-4));

    // The parent is unaffected by its child: it still continues like the fresh sequence did.
    const [fromParent] = await context.generate([parent], { maxTokens: 24 }).result();
    expect(fromParent!.tokens).toEqual(reference!.tokens);
    await Promise.all([parent, child, fresh].map((s) => s.dispose()));
  });

  test("forks diverge independently under different seeds and share the prefix cells once", async () => {
    const parent = context.createSequence();
    await parent.evaluate(prefix);
    const prefixCells = context.usedCells;
    const children = await Promise.all([1, 2, 3, 4].map(() => parent.fork()));
    expect(context.usedCells).toBe(prefixCells); // forking takes no cells
    const results = await context
      .generate(children.map((sequence, i) => ({ sequence, sampling: { temperature: 1, seed: i + 1 } })), { maxTokens: 10 })
      .result();
    expect(new Set(results.map((r) => r.tokens.join(","))).size).toBe(4);
    // prefix once + each child's own suffix (10 decoded tokens each: the pending prompt token + 9)
    expect(context.usedCells).toBe(prefixCells + 4 * 10);
    await Promise.all([parent, ...children].map((s) => s.dispose()));
    expect(context.usedCells).toBe(0);
  });

  test("a fork after an evaluate that read logprobs still generates correctly", async () => {
    const a = context.createSequence();
    const probe = [...model.tokenize("yes no", { addSpecial: false })];
    const { next } = await a.evaluate(prefix, { logprobs: { probes: probe, topK: 3 } });
    expect(next!.probes).toHaveLength(probe.length);
    expect(next!.top).toHaveLength(3);
    expect(next!.probes[0]!).toBeLessThanOrEqual(0);
    const b = await a.fork();
    const [fromFork] = await context.generate([b], { maxTokens: 8 }).result();
    const fresh = context.createSequence();
    await fresh.evaluate(prefix);
    const [reference] = await context.generate([fresh], { maxTokens: 8 }).result();
    expect(fromFork!.tokens).toEqual(reference!.tokens);
    await Promise.all([a, b, fresh].map((s) => s.dispose()));
  });
});

describe("dispose", () => {
  test("frees the sequence's cells and its id", async () => {
    const before = context.freeSequences;
    const sequence = context.createSequence();
    await sequence.evaluate(prefix);
    await context.generate([sequence], { maxTokens: 5 }).result();
    expect(context.usedCells).toBeGreaterThan(0);
    expect(context.freeSequences).toBe(before - 1);
    await sequence.dispose();
    expect(context.usedCells).toBe(0);
    expect(context.freeSequences).toBe(before);
    await expect(sequence.evaluate("more")).rejects.toMatchObject({ code: "DISPOSED" });
  });

  test("200 fork/dispose cycles exhaust neither sequence ids nor cells", async () => {
    // 200 × 20 generated tokens is far more than the 1024 cells: this only passes if disposal really
    // frees cells in llama.cpp's cache, not just in our books.
    const parent = context.createSequence();
    await parent.evaluate(prefix);
    const baseline = context.usedCells;
    for (let i = 0; i < 200; i++) {
      const child = await parent.fork();
      const [r] = await context.generate([child], { maxTokens: 20, ignoreEog: true }).result();
      expect(r!.tokens).toHaveLength(20);
      await child.dispose();
    }
    expect(context.usedCells).toBe(baseline);
    expect(context.freeSequences).toBe(7);
    await parent.dispose();
  }, 120_000);

  test("the ledger matches llama.cpp: filling every free cell works, one more is CONTEXT_FULL", async () => {
    const small = await model.createContext({ contextSize: 256, sequences: 4, threads: 1 });
    const a = small.createSequence();
    await a.evaluate(model.tokenize("x ".repeat(100)));
    const b = await a.fork();
    // b's own cells: the pending token plus what it generates
    const room = small.freeCells;
    await small.generate([b], { maxTokens: room, ignoreEog: true }).result();
    expect(small.freeCells).toBe(0);
    const c = await a.fork();
    await expect(small.generate([c], { maxTokens: 1 }).result()).rejects.toBeInstanceOf(ContextFullError);
    await b.dispose();
    const [r] = await small.generate([c], { maxTokens: 3 }).result();
    expect(r!.tokens).toHaveLength(3);
    await small.dispose();
  });
});

describe("sequence pool", () => {
  test("creating more than `sequences` throws SEQUENCE_LIMIT; dispose returns the id", async () => {
    const small = await model.createContext({ contextSize: 256, sequences: 2, threads: 1 });
    const a = small.createSequence();
    const b = small.createSequence();
    expect(() => small.createSequence()).toThrow(SequenceLimitError);
    await a.evaluate("hi");
    await expect(a.fork()).rejects.toBeInstanceOf(SequenceLimitError);
    await b.dispose();
    const c = await a.fork();
    expect(c.id).toBe(b.id);
    await small.dispose();
  });
});
