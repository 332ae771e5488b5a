// The native layer on its own: what it validates before llama.cpp can assert, and what decode returns.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { nativeAddon, type NativeContext, type NativeModel } from "../../lib/native.js";
import { tinyLlama } from "../fixtures/models.js";

let model: NativeModel;
let context: NativeContext;
const addon = nativeAddon();

beforeAll(async () => {
  model = await addon.Model.load(tinyLlama(), {});
  context = await addon.Context.create(model, { contextSize: 128, sequences: 4, batchSize: 32, threads: 1 });
});

afterAll(() => {
  context.dispose();
  model.dispose();
});

function batch(tokens: number[], seq = 0, start = 0, outputLast = true) {
  return {
    tokens: Int32Array.from(tokens),
    positions: Int32Array.from(tokens.map((_, i) => start + i)),
    seqIds: Int32Array.from(tokens.map(() => seq)),
    outputs: Uint8Array.from(tokens.map((_, i) => (outputLast && i === tokens.length - 1 ? 1 : 0))),
    samplers: outputLast ? [null] : [],
    topK: 0,
  };
}

describe("Context.create", () => {
  test("reports what llama.cpp made", () => {
    const info = context.info();
    expect(info.contextSize).toBe(256); // llama.cpp pads the cache to a multiple of 256
    expect(info.sequences).toBe(4);
    expect(info.batchSize).toBe(32);
    expect(info.threads).toBe(1);
  });

  test("native objects cannot be constructed from JS", () => {
    const Model = addon.Model as unknown as new (x: unknown) => unknown;
    expect(() => new Model({})).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });
});

describe("decode validation", () => {
  test.each([
    ["empty batch", { ...batch([]), samplers: [] }, "INVALID_ARGUMENT"],
    ["mismatched lengths", { ...batch([1, 2]), positions: Int32Array.of(0) }, "INVALID_ARGUMENT"],
    ["token out of range", batch([1, 32000]), "INVALID_TOKEN"],
    ["negative token", batch([-4]), "INVALID_TOKEN"],
    ["sequence id out of range", { ...batch([1]), seqIds: Int32Array.of(4) }, "INVALID_SEQUENCE"],
    ["position past the context", { ...batch([1]), positions: Int32Array.of(256) }, "CONTEXT_FULL"],
    ["negative position", { ...batch([1]), positions: Int32Array.of(-1) }, "CONTEXT_FULL"],
    ["samplers not matching outputs", { ...batch([1]), samplers: [] }, "INVALID_ARGUMENT"],
    ["plain arrays instead of typed", { ...batch([1]), tokens: [1] as unknown as Int32Array }, "INVALID_ARGUMENT"],
    ["top-k out of range", { ...batch([1]), topK: 5000 }, "INVALID_ARGUMENT"],
    ["probe out of range", { ...batch([1]), probes: Int32Array.of(99999) }, "INVALID_TOKEN"],
    ["logprobs not one per output", { ...batch([1]), logprobs: Uint8Array.of(1, 1) }, "INVALID_ARGUMENT"],
    ["logprobs not a Uint8Array", { ...batch([1]), logprobs: [1] as unknown as Uint8Array }, "INVALID_ARGUMENT"],
  ])("%s → %s", (_, request, code) => {
    expect(() => context.decode(request as Parameters<NativeContext["decode"]>[0])).toThrow(expect.objectContaining({ code }));
  });

  test("a gap in a sequence's positions is refused by llama.cpp and reported, not aborted on", async () => {
    await context.decode(batch([1, 450, 4996], 1, 0, false));
    await expect(context.decode(batch([17354], 1, 10))).rejects.toMatchObject({ code: "DECODE_FAILED" });
    expect(context.seqPosMax(1)).toBe(2);
    context.seqRemove(1);
  });

  test("memory operations validate sequence ids", () => {
    expect(() => context.seqCopy(0, 9)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => context.seqRemove(-1)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    expect(() => context.seqPosMax(1.5)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  test("while a decode runs, a second decode and memory operations are CONTEXT_BUSY", async () => {
    const running = context.decode(batch([1, 450, 4996, 17354]));
    expect(() => context.decode(batch([1], 2))).toThrow(expect.objectContaining({ code: "CONTEXT_BUSY" }));
    expect(() => context.seqRemove(0)).toThrow(expect.objectContaining({ code: "CONTEXT_BUSY" }));
    expect(() => context.dispose()).toThrow(expect.objectContaining({ code: "CONTEXT_BUSY" }));
    await running;
    expect(context.seqPosMax(0)).toBe(3);
    context.seqRemove(0);
    expect(context.seqPosMax(0)).toBe(-1);
  });

  test("a cancelled decode is ABORTED and leaves nothing in the cache", async () => {
    const cancellation = new addon.Cancellation();
    cancellation.cancel();
    const tokens = Array.from({ length: 100 }, (_, i) => 100 + i);
    await expect(context.decode(batch(tokens, 3), cancellation)).rejects.toMatchObject({ code: "ABORTED" });
    expect(context.seqPosMax(3)).toBe(-1);
  });

  test("a batch longer than batchSize is split into chunks, with the same result as one chunk", async () => {
    const tokens = Array.from({ length: 70 }, (_, i) => 300 + i);
    const wide = await addon.Context.create(model, { contextSize: 128, sequences: 1, batchSize: 128, threads: 1 });
    const one = await wide.decode({ ...batch(tokens), topK: 5 });
    wide.dispose();
    const chunked = await context.decode({ ...batch(tokens), topK: 5 });
    context.seqRemove(0);
    expect(Array.from(chunked.topTokens)).toEqual(Array.from(one.topTokens));
    // Different ubatch sizes take different matmul paths: the same ranking, logprobs within ~3e-3.
    Array.from(chunked.topLogprobs).forEach((lp, i) => expect(Math.abs(lp - one.topLogprobs[i]!)).toBeLessThan(1e-2));
  });
});

describe("decode results", () => {
  test("sampled token, its logprob, top-k and probes agree", async () => {
    const greedy = new addon.Sampler(model, { temperature: 0 });
    const r = await context.decode({ ...batch([1, 450, 4996]), samplers: [greedy], topK: 4, probes: Int32Array.of(13, 450) });
    context.seqRemove(0);
    expect(r.tokens).toHaveLength(1);
    expect(r.topTokens[0]).toBe(r.tokens[0]);
    expect(r.topLogprobs[0]).toBeCloseTo(r.logprobs[0]!, 6);
    expect(r.topLogprobs[0]! >= r.topLogprobs[1]! && r.topLogprobs[1]! >= r.topLogprobs[2]!).toBe(true);
    expect(r.probeLogprobs).toHaveLength(2);
    for (const lp of r.probeLogprobs) expect(lp).toBeLessThanOrEqual(r.logprobs[0]!);
  });

  test("only outputs marked in logprobs read their distribution; the sampled tokens do not change", async () => {
    const tokens = [1, 450, 4996];
    // The same prompt on sequences 0 and 1, one output (and one sampler) each.
    const two = {
      tokens: Int32Array.from([...tokens, ...tokens]),
      positions: Int32Array.of(0, 1, 2, 0, 1, 2),
      seqIds: Int32Array.of(0, 0, 0, 1, 1, 1),
      outputs: Uint8Array.of(0, 0, 1, 0, 0, 1),
    };
    const decode = async (kind: "greedy" | "sampled", logprobs: Uint8Array | undefined) => {
      const make = () => new addon.Sampler(model, kind === "greedy" ? { temperature: 0 } : { temperature: 1, topP: 0.95, seed: 3 });
      const r = await context.decode({ ...two, samplers: [make(), make()], topK: 3, probes: Int32Array.of(13), logprobs });
      context.seqRemove(0);
      context.seqRemove(1);
      return r;
    };
    for (const kind of ["greedy", "sampled"] as const) {
      const both = await decode(kind, undefined); // topK asked: every output read
      const second = await decode(kind, Uint8Array.of(0, 1));
      const none = await decode(kind, Uint8Array.of(0, 0));
      expect(Array.from(second.tokens)).toEqual(Array.from(both.tokens));
      expect(Array.from(none.tokens)).toEqual(Array.from(both.tokens));
      // The read output: exactly what a read of every output gives.
      expect(second.logprobs[1]).toBe(both.logprobs[1]);
      expect(Array.from(second.topTokens.slice(3))).toEqual(Array.from(both.topTokens.slice(3)));
      expect(Array.from(second.topLogprobs.slice(3))).toEqual(Array.from(both.topLogprobs.slice(3)));
      expect(second.probeLogprobs[1]).toBe(both.probeLogprobs[1]);
      expect(Number.isFinite(both.logprobs[0])).toBe(true);
      // The others: nothing computed.
      expect(Number.isNaN(second.logprobs[0])).toBe(true);
      expect(Array.from(second.topTokens.slice(0, 3))).toEqual([-1, -1, -1]);
      expect(second.probeLogprobs[0]).toBe(-Infinity);
      expect(Array.from(none.logprobs).every(Number.isNaN)).toBe(true);
      expect(Array.from(none.topTokens).every((t) => t === -1)).toBe(true);
      expect(Array.from(none.probeLogprobs).every((lp) => lp === -Infinity)).toBe(true);
    }
  });

  test("without topK, probes or logprobs, no output reads its distribution", async () => {
    const greedy = new addon.Sampler(model, { temperature: 0 });
    const plain = await context.decode({ ...batch([1, 450, 4996]), samplers: [greedy] });
    context.seqRemove(0);
    const asked = await context.decode({ ...batch([1, 450, 4996]), samplers: [new addon.Sampler(model, { temperature: 0 })], logprobs: Uint8Array.of(1) });
    context.seqRemove(0);
    expect(plain.tokens[0]).toBe(asked.tokens[0]);
    expect(Number.isNaN(plain.logprobs[0])).toBe(true);
    expect(asked.logprobs[0]).toBeLessThanOrEqual(0);
  });

  test("a decode reports its time in the forward pass and in reading the outputs", async () => {
    const r = await context.decode({ ...batch([1, 450, 4996]), samplers: [new addon.Sampler(model, { temperature: 0.8, seed: 1 })] });
    context.seqRemove(0);
    expect(r.timing.forwardMs).toBeGreaterThan(0);
    expect(r.timing.readMs).toBeGreaterThanOrEqual(0);
  });

  test("outputs without a sampler report logprobs but sample nothing", async () => {
    const r = await context.decode({ ...batch([1, 450]), topK: 2 });
    context.seqRemove(0);
    expect(r.tokens[0]).toBe(-1);
    expect(Number.isNaN(r.logprobs[0])).toBe(true);
    expect(r.topTokens).toHaveLength(2);
  });
});

describe("decodeRun", () => {
  const greedy = () => new addon.Sampler(model, { temperature: 0 });
  /** One row per sequence: token `t` of sequence i at `position`. */
  function rows(tokens: number[], position: number, samplers = tokens.map(() => greedy())) {
    return {
      tokens: Int32Array.from(tokens),
      positions: Int32Array.from(tokens.map(() => position)),
      seqIds: Int32Array.from(tokens.map((_, i) => i)),
      outputs: new Uint8Array(tokens.length).fill(1),
      samplers,
      topK: 0,
    };
  }
  const limits = (budgets: number[]) => ({ budgets: Int32Array.from(budgets), stopAtEog: new Uint8Array(budgets.length) });
  type RunArgs = Parameters<NonNullable<NativeContext["decodeRun"]>>;

  test.each([
    ["a row without a sampler", () => [{ ...rows([1], 0), samplers: [null] }, limits([2])], "INVALID_ARGUMENT"],
    ["a row that is no output", () => [{ ...rows([1, 2], 0), outputs: Uint8Array.of(1, 0), samplers: [greedy()] }, limits([2, 2])], "INVALID_ARGUMENT"],
    ["two rows of one sequence", () => [{ ...rows([1, 2], 0), seqIds: Int32Array.of(0, 0) }, limits([2, 2])], "INVALID_ARGUMENT"],
    ["top-k asked", () => [{ ...rows([1], 0), topK: 3 }, limits([2])], "INVALID_ARGUMENT"],
    ["a budget below 1", () => [rows([1], 0), limits([0])], "INVALID_ARGUMENT"],
    ["budgets not one per row", () => [rows([1, 2], 0), limits([2])], "INVALID_ARGUMENT"],
    ["no limits", () => [rows([1], 0), undefined], "INVALID_ARGUMENT"],
    ["a token out of range", () => [rows([99999], 0), limits([2])], "INVALID_TOKEN"],
  ] as [string, () => [unknown, unknown], string][])("%s → %s", (_, args, code) => {
    const [request, runLimits] = args();
    expect(() => context.decodeRun!(request as RunArgs[0], runLimits as RunArgs[1], () => {})).toThrow(expect.objectContaining({ code }));
  });

  test("onStep must be a function", () => {
    expect(() => context.decodeRun!(rows([1], 0), limits([2]), undefined as unknown as RunArgs[2])).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  });

  /** Runs to the end, answering every step with `verdict(step)`; the steps and the summary. */
  async function runWith(request: RunArgs[0], runLimits: RunArgs[1], verdict: (step: number, seqIds: number[]) => number[]) {
    const steps: { seqIds: number[]; tokens: number[] }[] = [];
    const run = context.decodeRun!(request, runLimits, (step) => {
      steps.push({ seqIds: [...step.seqIds], tokens: [...step.tokens] });
      run.verdict(step.step, Int32Array.from(verdict(step.step, [...step.seqIds])), false);
    });
    return { steps, summary: await run.done };
  }

  test("greedy steps equal decode() one step at a time; budgets end the run with nothing decoded ahead", async () => {
    const viaRun = await runWith(rows([450, 4996], 0), limits([6, 3]), (_, ids) => ids);
    expect(viaRun.steps.map((s) => s.seqIds)).toEqual([[0, 1], [0, 1], [0, 1], [0], [0], [0]]);
    expect(viaRun.summary).toMatchObject({ steps: 6, forwards: 6, discardedRows: 0 });
    // Each sequence holds its prompt token and the sampled tokens but the last (still pending).
    expect([context.seqPosMax(0), context.seqPosMax(1)]).toEqual([5, 2]);
    context.seqRemove(0);
    context.seqRemove(1);

    const stepwise: number[][] = [[], []];
    const pending = [450, 4996];
    for (let position = 0; position < 6; position++) {
      const live = [0, 1].filter((i) => position < [6, 3][i]!);
      const r = await context.decode({
        tokens: Int32Array.from(live.map((i) => pending[i]!)),
        positions: Int32Array.from(live.map(() => position)),
        seqIds: Int32Array.from(live),
        outputs: new Uint8Array(live.length).fill(1),
        samplers: live.map(() => greedy()),
        topK: 0,
      });
      live.forEach((i, j) => {
        stepwise[i]!.push(r.tokens[j]!);
        pending[i] = r.tokens[j]!;
      });
    }
    context.seqRemove(0);
    context.seqRemove(1);
    const tokensOf = (seq: number) => viaRun.steps.flatMap((s) => s.tokens.filter((_, j) => s.seqIds[j] === seq));
    expect([tokensOf(0), tokensOf(1)]).toEqual(stepwise);
  });

  test("a verdict that stops a sequence drops its row decoded ahead; one that stops all ends the run", async () => {
    const { steps, summary } = await runWith(rows([450, 4996], 0), limits([10, 10]), (step, ids) => (step === 1 ? [0] : step === 3 ? [] : ids));
    expect(steps.map((s) => s.seqIds)).toEqual([[0, 1], [0, 1], [0], [0]]);
    // Sequence 1 was decoded ahead once after step 1, sequence 0 once after step 3: both rows dropped.
    expect(summary.discardedRows).toBe(2);
    expect([context.seqPosMax(0), context.seqPosMax(1)]).toEqual([3, 1]);
    context.seqRemove(0);
    context.seqRemove(1);
  });

  test("stopWaiting() with a verdict owed ends the run and drops the rows decoded ahead", async () => {
    let reported = 0;
    const run = context.decodeRun!(rows([450], 0), limits([10]), () => {
      reported++;
      run.stopWaiting();
    });
    const summary = await run.done;
    expect(reported).toBe(1);
    expect(summary).toMatchObject({ steps: 1, discardedRows: 1 });
    expect(context.seqPosMax(0)).toBe(0);
    context.seqRemove(0);
  });

  test("a yield asked with a verdict ends the run after the next step", async () => {
    const steps: number[] = [];
    const run = context.decodeRun!(rows([450], 0), limits([10]), (step) => {
      steps.push(step.step);
      run.verdict(step.step, step.seqIds, step.step === 2);
    });
    expect(await run.done).toMatchObject({ steps: 4, discardedRows: 0 });
    expect(steps).toEqual([0, 1, 2, 3]);
    context.seqRemove(0);
  });

  test("cancelled: ABORTED, and the cache keeps only the steps reported", async () => {
    const cancellation = new addon.Cancellation();
    let reported = 0;
    const run = context.decodeRun!(
      rows([450], 0),
      limits([50]),
      (step) => {
        reported++;
        if (step.step === 2) cancellation.cancel();
        run.verdict(step.step, step.seqIds, false);
      },
      cancellation,
    );
    await expect(run.done).rejects.toMatchObject({ code: "ABORTED" });
    expect(reported).toBe(3);
    // The prompt token and the tokens sampled at steps 0 and 1 are in the cache; step 2's is pending.
    expect(context.seqPosMax(0)).toBe(2);
    context.seqRemove(0);
  });

  test("while a run lasts the context is busy", async () => {
    const run = context.decodeRun!(rows([450], 0), limits([3]), (step) => run.verdict(step.step, step.seqIds, false));
    expect(() => context.seqRemove(0)).toThrow(expect.objectContaining({ code: "CONTEXT_BUSY" }));
    await run.done;
    context.seqRemove(0);
  });
});

describe("Sampler", () => {
  test("a clone continues with the same random state", async () => {
    const a = new addon.Sampler(model, { temperature: 1, seed: 9 });
    const draw = async (s: ReturnType<typeof a.clone>, seq: number) => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await context.decode({ ...batch([1, 450, 4996], seq), samplers: [s] });
        context.seqRemove(seq);
        out.push(r.tokens[0]!);
      }
      return out;
    };
    await draw(a, 0);
    const b = a.clone();
    expect(await draw(b, 1)).toEqual(await draw(a, 0));
  });

  test("accepting a token the grammar forbids is GRAMMAR_REJECTED", () => {
    const s = new addon.Sampler(model, { grammar: 'root ::= "yes"' });
    const no = model.tokenize("no", false, false);
    expect(() => s.accept(no)).toThrow(expect.objectContaining({ code: "GRAMMAR_REJECTED" }));
  });

  test("a sampler of another model is refused", async () => {
    const other = await addon.Model.load(tinyLlama(), {});
    const foreign = new addon.Sampler(other, {});
    expect(() => context.decode({ ...batch([1]), samplers: [foreign] })).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
    other.dispose();
  });
});
