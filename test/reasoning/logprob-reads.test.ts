// Searches read token logprobs only where a decision may rest on them (lib/reasoning: the judge's
// fallback, the pick when nothing is well formed, the mean-probability scorer). On the tiny model —
// random weights, so generate-mode judges rarely answer in form and fall back to mean logprob — every
// search decides exactly as it does when every generation reads its logprobs.
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadModel, type Context, type Model, type ReasonOptions, type ReasonResult } from "../../lib/index.js";
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

/** A context whose every generation reads its tokens' logprobs, whatever the search asks. */
function readingEverything(context: Context): Context {
  const generate = context.generate.bind(context);
  context.generate = (requests, options) => generate(requests.map((r) => ("sequence" in r ? { ...r, logprobs: true } : { sequence: r, logprobs: true })), options);
  return context;
}

const newContext = () => model.createContext({ contextSize: 4096, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });

/** The search's decisions: everything but the mean logprobs it did not need. */
function decisions(r: ReasonResult) {
  return { text: r.text, stages: r.stages, problems: r.problems, judgements: r.tree.judgements, candidates: r.tree.candidates.map(({ meanLogprob: _, ...c }) => c) };
}

const fellBack: boolean[] = [];

test.each([
  { strategy: "stage-beam", width: 3, judge: "generate" },
  { strategy: "stage-beam", width: 3, judge: "logprob" },
  { strategy: "best-of-n", width: 2, judge: "generate" },
  { strategy: "sentence-beam", width: 2, judge: "generate", maxStageTokens: 32 },
  { strategy: "retrace", judge: "logprob" },
] as const)("$strategy, $judge judge: the same search as when every generation reads logprobs", async (options) => {
  const asked = await newContext();
  const everything = readingEverything(await newContext());
  const a = await model.reason({ ...base, ...options, context: asked });
  const b = await model.reason({ ...base, ...options, context: everything });
  expect(decisions(a)).toEqual(decisions(b));
  // Where the search read them, they are the values a full read gives; elsewhere it read none.
  for (const [i, c] of a.tree.candidates.entries()) {
    expect(b.tree.candidates[i]!.meanLogprob).toBeDefined();
    if (c.meanLogprob !== undefined) expect(c.meanLogprob).toBe(b.tree.candidates[i]!.meanLogprob);
  }
  fellBack.push(a.tree.judgements.some((j) => j.type === "pairwise" && j.fellBack));
  await asked.dispose();
  await everything.dispose();
}, 120_000);

test("the comparison exercised the fallback to mean logprob", () => {
  expect(fellBack).toHaveLength(5);
  expect(fellBack.some(Boolean)).toBe(true);
});
