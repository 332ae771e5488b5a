// Disposing a context or a model while requests run on it: every request ends — done, or rejected with
// DISPOSED at its next step — never with a crash, a hang or another error, and every native handle the
// requests and the context or model held is gone afterwards. Seeded moments, on both engines.
import { describe, expect, test } from "vitest";
import { loadModel, nativeHandleCounts, type Context, type MllamaProjector, type Model } from "../../lib/index.js";
import { nativeAddon } from "../../lib/native.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { tinyClip, tinyLlama, tinyMllama } from "../fixtures/models.js";
import { footprint, recordResults, seededDelays, size, timed } from "./harness.js";

const image = encodePng(56, 56, rgbPattern(56, 56, 21));
const TRIALS = size(1, 3);
const reasonBase = { image, forceStructure: "grammar" as const, maxStageTokens: 8, maxJudgeTokens: 8, seed: 4 };
const outcomes: Record<string, Record<string, number>> = {};

/** Mixed requests on `context` (or on the model's shared reasoning context when it is null). */
function requests(model: Model, context: Context | null): Promise<unknown>[] {
  const on = context ? { context } : {};
  const work: Promise<unknown>[] = [
    model.reason({ ...reasonBase, ...on, question: "What is it?", strategy: "stage-beam", width: 2 }),
    model.reason({ ...reasonBase, ...on, question: "Which colour?", strategy: "best-of-n", width: 2, judge: "logprob" }),
    model.reason({ ...reasonBase, ...on, question: "Why?", strategy: "single" }),
  ];
  if (context) {
    work.push(
      (async () => {
        const s = await context.createSequenceFrom("Once upon a time", { sampling: { temperature: 0.7, seed: 2 } });
        const forks = [s, await s.fork(), await s.fork()];
        try {
          return await context.generate(forks, { maxTokens: 64, ignoreEog: true }).result();
        } finally {
          for (const f of forks) await f.dispose();
        }
      })(),
    );
  }
  return work;
}

async function settle(settled: Promise<PromiseSettledResult<unknown>[]>, tally: Record<string, number>): Promise<void> {
  for (const result of await settled) {
    const outcome = result.status === "fulfilled" ? "completed" : ((result.reason as { code?: string }).code ?? `uncoded: ${String(result.reason)}`);
    tally[outcome] = (tally[outcome] ?? 0) + 1;
    expect(["completed", "DISPOSED"], String(result.status === "rejected" ? result.reason : "")).toContain(outcome);
  }
}

test("prompts waiting for a cached image in flight end DISPOSED when the context goes (regression: they waited for ever)", async () => {
  const model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
  const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 2 } });
  const prompts = [0, 1, 2].map(() => context.createSequenceFrom([{ image }, "Describe it."]));
  const settled = Promise.allSettled(prompts);
  await context.dispose();
  const hung = new Promise<"hung">((resolve) => setTimeout(() => resolve("hung"), 20_000).unref());
  const outcome = await Promise.race([settled, hung]);
  expect(outcome).not.toBe("hung");
  for (const result of outcome as PromiseSettledResult<unknown>[]) expect(result).toMatchObject({ status: "rejected", reason: { code: "DISPOSED" } });
  await model.dispose();
});

test("disposing an mllama model while its vision encoder runs cancels the encode (regression: dispose threw CONTEXT_BUSY, half done)", async () => {
  const model = await loadModel({ path: tinyMllama().model, projector: tinyMllama().projector });
  const projector = model.projector as MllamaProjector;
  const pixels = nativeAddon().Image.fromRgb(64, 48, rgbPattern(64, 48, 5));
  pixels.id = "dispose-while-encoding";
  const encoding = projector.encode(pixels).then(
    () => "completed",
    (error: { code?: string }) => error.code,
  );
  await model.dispose(); // the encode is in flight: it started synchronously
  expect(["DISPOSED", "completed"]).toContain(await encoding);
  expect(model.disposed).toBe(true);
  expect(nativeHandleCounts().mllamaVisions).toBe(0);
});

describe.each([
  ["llama.cpp", () => ({ model: tinyLlama(), projector: tinyClip() })],
  ["mllama", tinyMllama],
] as const)("%s engine", (engine, pair) => {
  const contextOptions = { contextSize: 4096, sequences: 40, threads: 1 };
  const load = () => loadModel({ path: pair().model, projector: pair().projector });

  test("disposing a context while requests run: each ends done or DISPOSED; no handle outlives them", async () => {
    const model = await load();
    const start = await footprint();
    const tally: Record<string, number> = {};
    const span = await timed(async () => {
      const c = await model.createContext(contextOptions);
      await Promise.all(requests(model, c));
      await c.dispose();
    });
    for (const delay of seededDelays(engine.length * 7, TRIALS, span)) {
      const context = await model.createContext(contextOptions);
      const work = Promise.allSettled(requests(model, context)); // handled from the start, as a service would
      await new Promise((resolve) => setTimeout(resolve, delay));
      await context.dispose();
      await settle(work, tally);
      expect(context.disposed).toBe(true);
    }
    expect((await footprint()).handles).toEqual(start.handles);
    await model.dispose();
    outcomes[`${engine}: context disposed`] = tally;
  }, size(120_000, 1_800_000));

  test("disposing the model while requests run on its contexts: each ends done or DISPOSED; every handle freed", async () => {
    const start = await footprint();
    const tally: Record<string, number> = {};
    const span = await timed(async () => {
      const m = await load();
      // The requests on its own context alone (the shared context's take as long again): the moments
      // to dispose at fall in the first half of the whole, where every request is still running.
      const c = await m.createContext(contextOptions);
      await Promise.all(requests(m, c));
      await m.dispose();
    });
    for (const delay of seededDelays(engine.length * 11, TRIALS, span)) {
      const model = await load();
      const context = await model.createContext(contextOptions);
      const work = Promise.allSettled([...requests(model, context), ...requests(model, null)]);
      await new Promise((resolve) => setTimeout(resolve, delay));
      await model.dispose();
      await settle(work, tally);
      await expect(model.createContext()).rejects.toMatchObject({ code: "DISPOSED" });
    }
    expect((await footprint()).handles).toEqual(start.handles);
    outcomes[`${engine}: model disposed`] = tally;
    recordResults("disposal while requests run", { trials: TRIALS, outcomes });
  }, size(300_000, 1_800_000));
});
