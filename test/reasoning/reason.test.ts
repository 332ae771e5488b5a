// Every strategy end to end on the tiny LLaVA-style pair, with the structure forced by grammar (random
// weights would never write the tags themselves).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AbortError, loadModel, STAGES, type Model, type ReasonOptions, type StrategyName } from "../../lib/index.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { tinyClip, tinyLlama } from "../fixtures/models.js";

let model: Model;
const image = encodePng(56, 56, rgbPattern(56, 56, 21));
const base: ReasonOptions = { image, question: "What is shown in the image?", seed: 7, forceStructure: "grammar", maxStageTokens: 8, maxJudgeTokens: 12 };

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
});

afterAll(async () => {
  await model.dispose();
});

const newContext = (shareBatches = true) =>
  model.createContext({ contextSize: 4096, sequences: 48, threads: 1, prefixCache: { sequences: 2 }, shareBatches });

describe.each(["single", "stage-beam", "best-of-n", "sentence-beam", "retrace"] as StrategyName[])("%s", (strategy) => {
  const extra = strategy === "sentence-beam" ? { maxStageTokens: 32 } : {};
  test.each(["generate", "logprob"] as const)("runs end to end with the %s judge: four stages, one image encode, everything released", async (judge) => {
    const context = await newContext();
    const events: string[] = [];
    const result = await model.reason({ ...base, ...extra, strategy, judge, width: 2, context, onEvent: (e) => events.push(e.type) });
    for (const stage of STAGES) expect(result.stages[stage].length, `${stage} of ${result.text}`).toBeGreaterThan(0);
    expect(result.conclusion).toBe(result.stages.CONCLUSION);
    expect(result.text).toContain("</CONCLUSION>");
    expect(context.stats.imageEncodes).toBe(1); // judges fork from the cached image prefix
    expect(result.counts.imageEncodes).toBe(1);
    expect(events.at(-1)).toBe("done");
    // every search sequence released: only the prefix cache's own prompt remains
    expect(context.freeSequences).toBe(48 - context.prefixCache!.size);
    await context.dispose();
  }, 60_000);
});

describe("stage-beam", () => {
  test("N − 1 judgements per stage at width 4, pairs of a round in one batch, image encoded once", async () => {
    const context = await newContext();
    const result = await model.reason({ ...base, strategy: "stage-beam", width: 4, judge: "logprob", context });
    for (const stage of STAGES) {
      const ids = new Set(result.tree.candidates.filter((c) => c.kind === stage && c.valid).map((c) => c.id));
      const pairwise = result.tree.judgements.filter((j) => j.type === "pairwise" && j.candidates.every((id) => ids.has(id)));
      const checks = result.tree.judgements.filter((j) => j.type === "reasoning-check" && ids.has(j.candidates[0]!));
      // each match is decided by a pairwise judgement or by the reasoning check
      const gated = stage === "REASONING" ? 4 - 1 - pairwise.length : 0;
      expect(pairwise.length + gated).toBe(ids.size - 1);
      if (stage === "REASONING") expect(checks).toHaveLength(ids.size);
      expect(result.tree.candidates.filter((c) => c.kind === stage && c.won)).toHaveLength(1);
    }
    expect(context.stats.imageEncodes).toBe(1);
    await context.dispose();
  }, 60_000);

  test("the same seed gives the same result tree; another seed another", async () => {
    const strip = (r: Awaited<ReturnType<Model["reason"]>>) => JSON.stringify({ text: r.text, tree: r.tree });
    const a = await model.reason({ ...base, strategy: "stage-beam", width: 3, context: await newContext() });
    const b = await model.reason({ ...base, strategy: "stage-beam", width: 3, context: await newContext() });
    const c = await model.reason({ ...base, seed: 8, strategy: "stage-beam", width: 3, context: await newContext() });
    expect(strip(b)).toBe(strip(a));
    expect(strip(c)).not.toBe(strip(a));
  }, 60_000);

  test("width 1 equals single with the same seed", async () => {
    const single = await model.reason({ ...base, strategy: "single", context: await newContext() });
    const beam = await model.reason({ ...base, strategy: "stage-beam", width: 1, context: await newContext() });
    expect(beam.text).toBe(single.text);
    expect(beam.tree.judgements).toHaveLength(0);
  }, 60_000);

  test("knockout tournaments also take N − 1 judgements", async () => {
    const context = await newContext();
    const result = await model.reason({ ...base, strategy: "stage-beam", width: 3, tournament: "knockout", judge: "logprob", context });
    const summaryIds = new Set(result.tree.candidates.filter((c) => c.kind === "SUMMARY" && c.valid).map((c) => c.id));
    expect(result.tree.judgements.filter((j) => j.candidates.every((id) => summaryIds.has(id)))).toHaveLength(summaryIds.size - 1);
    await context.dispose();
  }, 60_000);

  test("abort at any point frees every sequence and cell", async () => {
    const context = await newContext();
    const free = { sequences: context.freeSequences, cells: context.freeCells };
    for (const after of [1, 5, 25]) {
      const controller = new AbortController();
      let seen = 0;
      const run = model.reason({
        ...base,
        strategy: "stage-beam",
        width: 2,
        context,
        signal: controller.signal,
        onEvent: () => {
          if (++seen === after) controller.abort();
        },
      });
      await expect(run).rejects.toBeInstanceOf(AbortError);
      await context.prefixCache!.clear();
      expect(context.freeSequences).toBe(free.sequences);
      expect(context.freeCells).toBe(free.cells);
    }
    await context.dispose();
  }, 60_000);
});

describe("forking off", () => {
  test.each(["generate", "logprob"] as const)(
    "with the %s judge: the same first stage as the forked search, the image encoded by every candidate and judge, nothing cached",
    async (judge) => {
      const options = { ...base, strategy: "stage-beam" as const, width: 2, judge };
      const forkedContext = await newContext(false);
      const forked = await model.reason({ ...options, context: forkedContext });
      const unforkedContext = await newContext(false);
      const unforked = await model.reason({ ...options, fork: false, context: unforkedContext });
      // The first stage continues the same prompt evaluated the same way, so it is token for token the
      // same. Later stages continue a winner whose tokens were decoded one at a time when forked but
      // re-evaluated in one batch when not, which rounds differently (the search itself is the same:
      // semantics.test.ts shows identical requests and trees on a scripted engine).
      const summaries = (r: typeof forked) => r.tree.candidates.filter((c) => c.kind === "SUMMARY").map((c) => c.text);
      expect(summaries(unforked)).toEqual(summaries(forked));
      for (const stage of STAGES) expect(unforked.stages[stage].length).toBeGreaterThan(0);
      expect(forked.counts.imageEncodes).toBe(1);
      // per stage: 2 candidates and 1 pairwise judge (unless the reasoning check decided)
      const pairwise = unforked.tree.judgements.filter((j) => j.type === "pairwise").length;
      expect(unforked.counts.imageEncodes).toBe(4 * 2 + pairwise);
      expect(unforked.counts.promptTokens).toBeGreaterThan(forked.counts.promptTokens);
      expect(unforkedContext.prefixCache!.size).toBe(0); // nothing was cached or reused
      expect(unforkedContext.stats.cachedItems).toBe(0);
      expect(unforkedContext.usedCells).toBe(0);
      await forkedContext.dispose();
      await unforkedContext.dispose();
    },
    60_000,
  );
});

describe("prefilled structure", () => {
  test("stages that reach their token budget are closed: every candidate is well formed, judges run", async () => {
    const context = await newContext();
    const result = await model.reason({ ...base, forceStructure: "prefill", maxStageTokens: 6, strategy: "stage-beam", width: 2, judge: "logprob", context });
    for (const c of result.tree.candidates) {
      expect(c.valid, c.text).toBe(true);
      expect(c.tokens).toBeLessThanOrEqual(6);
    }
    expect(result.tree.candidates.some((c) => c.closedAtBudget)).toBe(true);
    for (const stage of STAGES) expect(result.text).toContain(`</${stage}>`);
    expect(result.tree.judgements.filter((j) => j.type === "pairwise").length).toBeGreaterThan(0);
    await context.dispose();
  }, 60_000);
});

describe("services", () => {
  // Reproducible mode (shareBatches: false): the calls take turns, so concurrency cannot change a result.
  test("8 concurrent reason() calls on one context all complete, each equal to its solo run", async () => {
    const questions = Array.from({ length: 8 }, (_, i) => `Question number ${i}: what do you see?`);
    // Solo: one call at a time on a context of its own, with the image prefix already cached (as it is
    // for all but the first of the concurrent calls).
    const solo = [];
    const warm = await newContext(false);
    await model.reason({ ...base, question: questions[0]!, strategy: "single", temperature: 0, context: warm });
    for (const question of questions) {
      solo.push((await model.reason({ ...base, question, strategy: "stage-beam", width: 2, temperature: 0, judge: "logprob", context: warm })).text);
    }
    await warm.dispose();
    const shared = await newContext(false);
    const together = await Promise.all(
      questions.map((question) => model.reason({ ...base, question, strategy: "stage-beam", width: 2, temperature: 0, judge: "logprob", context: shared })),
    );
    expect(together.map((r) => r.text)).toEqual(solo);
    expect(shared.stats.imageEncodes).toBe(1);
    await shared.dispose();
  }, 120_000);

  // Throughput mode (the default): the calls' candidates join the same batch steps. All complete with
  // well-formed answers on one image encode, in fewer native calls than the calls would take alone.
  test("8 concurrent reason() calls sharing batch steps all complete", async () => {
    const shared = await newContext(true);
    const questions = Array.from({ length: 8 }, (_, i) => `Question number ${i}: what do you see?`);
    const results = await Promise.all(
      questions.map((question) => model.reason({ ...base, question, strategy: "stage-beam", width: 2, judge: "logprob", context: shared })),
    );
    for (const r of results) for (const stage of STAGES) expect(r.stages[stage].length).toBeGreaterThan(0);
    expect(shared.stats.imageEncodes).toBe(1);
    const solo = await model.reason({ ...base, question: questions[0]!, strategy: "stage-beam", width: 2, judge: "logprob", context: await newContext() });
    expect(shared.stats.decodeCalls).toBeLessThan(8 * solo.counts.decodeCalls);
    expect(shared.freeSequences).toBe(48 - shared.prefixCache!.size);
    await shared.dispose();
  }, 120_000);

  test("searches that cannot all hold their sequences at once wait their turn instead of failing", async () => {
    // 12 sequences, 2 kept by the prefix cache: room for one width-2 stage-beam search at a time
    const small = await model.createContext({ contextSize: 4096, sequences: 12, threads: 1, prefixCache: { sequences: 2 } });
    const results = await Promise.all(
      [0, 1, 2].map((i) => model.reason({ ...base, question: `Question ${i}?`, strategy: "stage-beam", width: 2, judge: "logprob", context: small })),
    );
    for (const r of results) expect(r.conclusion.length).toBeGreaterThan(0);
    await expect(model.reason({ ...base, strategy: "stage-beam", width: 4, context: small })).rejects.toMatchObject({ code: "SEQUENCE_LIMIT" });
    await small.dispose();
  }, 60_000);

  test("searches that fill the KV cache wait for each other instead of failing", async () => {
    const tight = await model.createContext({ contextSize: 1024, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });
    const options = { ...base, strategy: "stage-beam" as const, width: 3, judge: "generate" as const, context: tight };
    // alone it fits; four at once do not
    const alone = await model.reason({ ...options, question: "Question 0?" });
    expect(alone.conclusion.length).toBeGreaterThan(0);
    const events: string[] = [];
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) => model.reason({ ...options, question: `Question ${i}?`, onEvent: (e) => events.push(e.type) })),
    );
    for (const r of results) for (const stage of STAGES) expect(r.stages[stage].length).toBeGreaterThan(0);
    expect(tight.stats.imageEncodes).toBe(1);
    expect(tight.freeSequences).toBe(48 - tight.prefixCache!.size);
    await tight.prefixCache!.clear();
    expect(tight.usedCells).toBe(0);
    void events;
    await tight.dispose();
  }, 120_000);

  test("a search that cannot fit even alone fails with CONTEXT_FULL", async () => {
    const tiny = await model.createContext({ contextSize: 256, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });
    await expect(model.reason({ ...base, strategy: "stage-beam", width: 4, context: tiny })).rejects.toMatchObject({ code: "CONTEXT_FULL" });
    expect(tiny.freeSequences).toBe(48 - tiny.prefixCache!.size);
    await tiny.dispose();
  }, 60_000);
});
