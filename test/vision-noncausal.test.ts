// Non-causal projectors (Gemma 3 family): an image's tokens attend to each other, so the whole image
// must be decoded in one ubatch. Too small a ubatch is a clear error, never an abort.
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadModel, type Model, type PromptPart } from "../lib/index.js";
import { encodePng, rgbPattern } from "./fixtures/images.js";
import { tinyGemma3Projector, tinyLlama } from "./fixtures/models.js";

let model: Model;
const ask: PromptPart[] = ["[INST] ", { image: encodePng(56, 56, rgbPattern(56, 56, 4)) }, "\nWhat is this? [/INST]"];

beforeAll(async () => {
  model = await loadModel({ path: tinyLlama(), projector: tinyGemma3Projector() });
});

afterAll(async () => {
  await model.dispose();
});

test("the projector reports non-causal image attention", async () => {
  expect(model.projector!.info).toMatchObject({ nonCausal: true, mrope: false });
  expect((await model.projector!.imageTokens(56, 56)).tokens).toBe(4);
});

test("a ubatch smaller than the image is UBATCH_TOO_SMALL, and the sequence is unchanged", async () => {
  const context = await model.createContext({ contextSize: 256, sequences: 2, batchSize: 64, ubatchSize: 2, threads: 1 });
  const s = context.createSequence();
  await expect(s.evaluate(ask)).rejects.toMatchObject({ code: "UBATCH_TOO_SMALL", message: expect.stringContaining("ubatchSize >= 4") });
  expect(s.position).toBe(0);
  expect(context.usedCells).toBe(0);
  await context.dispose();
});

test("with a large enough ubatch the image is decoded in one piece and generation works", async () => {
  const context = await model.createContext({ contextSize: 256, sequences: 2, threads: 1 });
  const s = context.createSequence();
  await s.evaluate(ask);
  const fork = await s.fork();
  const [a, b] = await context.generate([s, fork], { maxTokens: 6 }).result();
  expect(a!.tokens).toHaveLength(6);
  expect(b!.tokens).toEqual(a!.tokens);
  await context.dispose();
});
