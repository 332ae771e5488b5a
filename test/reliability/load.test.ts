// 16 concurrent reason() calls on one model — mixed strategies and widths, some with an image, some
// aborted midway. Taking turns (shareBatches: false) each result equals the same call run alone; sharing
// batch steps every call completes (each fits alone); the aborted ones end ABORTED; and afterwards the
// context holds no cell and no sequence of theirs.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Context, type Model, type ReasonOptions } from "../../lib/index.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { tinyClip, tinyLlama } from "../fixtures/models.js";
import { footprint, recordResults, size } from "./harness.js";
import { seededRandom } from "../../lib/seeded-random.js";

const image = encodePng(56, 56, rgbPattern(56, 56, 21));
let model: Model;
const summary: Record<string, unknown> = {};

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
});

afterAll(async () => {
  await model.dispose();
  recordResults("load: 16 concurrent reason() calls (llama.cpp engine)", summary);
});

interface Call {
  options: ReasonOptions;
  /** Aborted at this event of its own, or never. */
  abortAtEvent: number | null;
}

/** 16 seeded calls: strategies and widths drawn in turn, every other one with the image, 4 aborted. */
function calls(seed: number): Call[] {
  const random = seededRandom(seed);
  const kinds: Partial<ReasonOptions>[] = [
    { strategy: "single" },
    { strategy: "stage-beam", width: 2, judge: "generate" },
    { strategy: "stage-beam", width: 3, judge: "logprob" },
    { strategy: "best-of-n", width: 2, judge: "logprob" },
    { strategy: "best-of-n", width: 4, judge: "generate" },
    { strategy: "sentence-beam", width: 2, maxStageTokens: 16 },
    { strategy: "retrace", retrace: { captions: 2, keepCaptions: 1, reasoningsPerCaption: 2, threshold: 0.99, maxRetraces: 1, finalists: 2 } },
  ];
  return Array.from({ length: 16 }, (_, i) => ({
    options: {
      question: `Question ${i}: what is shown?`,
      image: i % 2 === 0 ? image : undefined,
      seed: i,
      forceStructure: "grammar",
      maxStageTokens: 6,
      maxJudgeTokens: 6,
      ...kinds[i % kinds.length],
    },
    abortAtEvent: i % 4 === 3 ? 1 + Math.floor(random() * 20) : null,
  }));
}

const newContext = (shareBatches: boolean) => model.createContext({ contextSize: 8192, sequences: 64, threads: 1, shareBatches });

/** Runs the calls together on `context`; "ABORTED" or the result's text and tree for each. */
async function together(context: Context, list: Call[]): Promise<string[]> {
  const settled = await Promise.allSettled(
    list.map(({ options, abortAtEvent }) => {
      const controller = new AbortController();
      let seen = 0;
      return model.reason({
        ...options,
        context,
        signal: controller.signal,
        onEvent: () => {
          if (abortAtEvent !== null && ++seen === abortAtEvent) controller.abort();
        },
      });
    }),
  );
  return settled.map((s) => (s.status === "fulfilled" ? JSON.stringify({ text: s.value.text, tree: s.value.tree }) : `${(s.reason as { code?: string }).code}: ${String(s.reason)}`));
}

describe.each([false, true])("shareBatches: %s", (shareBatches) => {
  test("16 concurrent calls: the aborted end ABORTED, the rest complete, nothing held afterwards", async () => {
    const list = calls(shareBatches ? 2 : 1);
    const start = await footprint();
    const context = await newContext(shareBatches);
    const started = performance.now();
    const results = await together(context, list);
    const ms = performance.now() - started;
    list.forEach((call, i) => {
      if (call.abortAtEvent !== null) expect(results[i], `call ${i}`).toMatch(/^ABORTED|^\{/); // an abort after its last event is too late
      else expect(results[i], `call ${i}`).toMatch(/^\{/);
    });
    expect(context.usedCells).toBe(0);
    expect(context.freeSequences).toBe(64);
    if (!shareBatches) {
      // Each equals the same call alone on a fresh context.
      for (const [i, call] of list.entries()) {
        if (call.abortAtEvent !== null) continue;
        const alone = await newContext(false);
        expect(results[i], `call ${i} (${call.options.strategy})`).toBe((await together(alone, [{ ...call }]))[0]);
        await alone.dispose();
      }
    }
    await context.dispose();
    expect((await footprint()).handles).toEqual(start.handles);
    summary[`shareBatches ${shareBatches}`] = {
      calls: list.length,
      aborted: results.filter((r) => r.startsWith("ABORTED")).length,
      completed: results.filter((r) => r.startsWith("{")).length,
      failed: results.filter((r) => !r.startsWith("{") && !r.startsWith("ABORTED")).length,
      wallMs: Math.round(ms),
    };
  }, size(240_000, 600_000));
});
