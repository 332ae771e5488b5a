// nativeHandleCounts() follows the addon's objects, and dispose() frees them at once — not when the
// garbage collector gets round to the JS wrappers (regression: each wrapper's creation left a second
// owner behind, so a disposed context kept its KV cache until a collection that might never come).
import { expect, test } from "vitest";
import { loadModel, nativeHandleCounts } from "../../lib/index.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { tinyClip, tinyLlama, tinyMllama } from "../fixtures/models.js";
import { collectGarbage } from "../reliability/harness.js";

test("models, projectors, contexts and samplers (forks' clones too) are counted while alive and gone on dispose, without a collection", async () => {
  const start = nativeHandleCounts();
  const model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
  const context = await model.createContext({ contextSize: 512, sequences: 4, threads: 1 });
  const prompt = await context.createSequenceFrom([{ image: encodePng(28, 28, rgbPattern(28, 28, 2)) }, "Hi"]);
  const fork = await prompt.fork();
  const live = nativeHandleCounts();
  expect(live.models - start.models).toBe(1);
  expect(live.projectors - start.projectors).toBe(1);
  expect(live.contexts - start.contexts).toBe(1);
  expect(live.samplers - start.samplers).toBe(2);
  await fork.dispose();
  expect(nativeHandleCounts().samplers - start.samplers).toBe(1);
  await context.dispose();
  expect(nativeHandleCounts().contexts).toBe(start.contexts);
  expect(nativeHandleCounts().samplers).toBe(start.samplers);
  await model.dispose();
  // A tokenized image prompt (chunks) keeps its projector, and so the weights, until it is collected:
  // the one kind still left to the garbage collector.
  collectGarbage();
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  expect(nativeHandleCounts()).toEqual(start);
});

test("the mllama engine's models, vision encoders and contexts likewise", async () => {
  const start = nativeHandleCounts();
  const model = await loadModel(({ path: tinyMllama().model, projector: tinyMllama().projector }));
  const context = await model.createContext({ contextSize: 256, sequences: 2, threads: 1 });
  const live = nativeHandleCounts();
  expect([live.mllamaModels - start.mllamaModels, live.mllamaVisions - start.mllamaVisions, live.mllamaContexts - start.mllamaContexts]).toEqual([1, 1, 1]);
  await context.dispose();
  await model.dispose();
  const end = nativeHandleCounts();
  expect([end.mllamaModels, end.mllamaVisions, end.mllamaContexts]).toEqual([start.mllamaModels, start.mllamaVisions, start.mllamaContexts]);
});
