// Aborts at every point, on either engine: loadModel, the projector's load, image encode, prompt
// evaluation, candidate decoding, judging and retracing, each aborted at seeded random moments. Every
// abort rejects with ABORTED before another decode step starts, gives back every cell, sequence and
// native handle, and leaves the model and context serving new work exactly as fresh ones do.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Context, type Model } from "../../lib/index.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { abortTrials, contextPoints } from "./abort-engine.js";
import { abortAt, footprint, FULL, recordResults, seededDelays, size, summarize, timed, type AbortOutcome, type AbortSummary } from "./harness.js";

export function abortSuite(engine: string, pair: () => { model: string; projector: string }, seed: number, smokePoints: string[]): void {
  const TRIALS = size(2, 6);
  const results: Record<string, AbortSummary> = {};
  let model: Model;
  let context: Context;
  const image = encodePng(56, 56, rgbPattern(56, 56, 21));
  const longPrompt = Array.from({ length: 60 }, (_, i) => `Sentence ${i} of a long prompt about lighthouses.`).join(" ");
  const newContext = (m: Model) => m.createContext({ contextSize: 4096, sequences: 24, batchSize: 64, threads: 1, shareBatches: false });

  beforeAll(async () => {
    model = await loadModel({ path: pair().model, projector: pair().projector });
    context = await newContext(model);
  });

  afterAll(async () => {
    await model.dispose();
    recordResults(`aborts: ${engine}`, { trialsPerPoint: TRIALS, ...results });
  });

  /** A short greedy answer: what a model that loaded after aborted loads must give as a fresh one does. */
  async function answer(m: Model): Promise<string> {
    const c = await m.createContext({ contextSize: 512, sequences: 2, threads: 1 });
    try {
      const s = await c.createSequenceFrom([{ image }, "Describe it."], { sampling: { temperature: 0 } });
      return JSON.stringify((await c.generate([s], { maxTokens: 6, ignoreEog: true }).result()).map((r) => r.tokens));
    } finally {
      await c.dispose();
    }
  }

  describe("loading", () => {
    test("loadModel (weights and projector) aborted at random moments: ABORTED, no handle left, a later load serves as before", async () => {
      const start = await footprint();
      const reference = await answer(model);
      const solo = await timed(async () => (await loadModel({ path: pair().model, projector: pair().projector })).dispose());
      const outcomes: AbortOutcome[] = [];
      for (const delay of seededDelays(seed + 1, TRIALS, solo)) {
        const outcome = await abortAt(async (signal) => {
          const m = await loadModel({ path: pair().model, projector: pair().projector, signal });
          await m.dispose();
        }, delay);
        expect(["ABORTED", "completed"]).toContain(outcome.outcome);
        outcomes.push(outcome);
      }
      // An abort that lands during the load itself (not only before it) is exercised by the progress hook:
      const controller = new AbortController();
      await expect(loadModel({ path: pair().model, projector: pair().projector, signal: controller.signal, onProgress: () => controller.abort() })).rejects.toMatchObject({
        code: "ABORTED",
      });
      expect((await footprint()).handles).toEqual(start.handles);
      const again = await loadModel({ path: pair().model, projector: pair().projector });
      expect(await answer(again)).toBe(reference);
      await again.dispose();
      results.loadModel = summarize(outcomes);
    });

    test("loadProjector aborted at random moments: ABORTED, the model keeps serving, no projector handle left over", async () => {
      const bare = await loadModel({ path: pair().model });
      const solo = await timed(() => bare.loadProjector(pair().projector));
      const loaded = await footprint();
      const outcomes: AbortOutcome[] = [];
      for (const delay of seededDelays(seed + 2, TRIALS, solo)) {
        const outcome = await abortAt((signal) => bare.loadProjector(pair().projector, { signal }), delay);
        expect(["ABORTED", "completed"]).toContain(outcome.outcome);
        outcomes.push(outcome);
      }
      // One projector (the last that loaded, replacing the others) and nothing else.
      await bare.loadProjector(pair().projector);
      expect((await footprint()).handles).toEqual(loaded.handles);
      expect(await answer(bare)).toBe(await answer(model));
      await bare.dispose();
      results.loadProjector = summarize(outcomes);
    });
  });

  describe("work on a context", () => {
    const points = () => contextPoints(model, image, longPrompt);
    // The smoke run (npm test) takes the points cheap on this engine; the full run takes them all.
    const all = contextPoints({} as Model, image, longPrompt).map((p, i) => [p.name, i] as const);
    test.each(FULL ? all : all.filter(([name]) => smokePoints.includes(name)))(
      "%s aborted at random moments: ABORTED within a step, every cell and sequence back, then the same result as a fresh context",
      async (name, i) => {
        const start = await footprint();
        results[name] = await abortTrials(points()[i]!, context, () => newContext(model), TRIALS, seed + 10 + i);
        const end = await footprint();
        expect(end.handles, "native handles after the trials").toEqual(start.handles);
      },
      FULL_TIMEOUT(),
    );
  });

  function FULL_TIMEOUT(): number {
    return size(60_000, 1_800_000);
  }

}
