// A context whose KV cache cannot fit in the memory the backends report is refused before anything is
// allocated, with INSUFFICIENT_MEMORY and the largest size that could fit — not an OOM kill.
import { afterAll, beforeAll, expect, test } from "vitest";
import { totalmem } from "node:os";
import { loadModel, nativeHandleCounts, type Model } from "../../lib/index.js";
import { kvCacheBytes, memoryBudget } from "../../lib/memory-budget.js";
import { tinyLlama, tinyMllama } from "../fixtures/models.js";

let llama: Model;
let mllama: Model;

beforeAll(async () => {
  llama = await loadModel({ path: tinyLlama() });
  mllama = await loadModel({ path: tinyMllama().model });
});

afterAll(async () => {
  await llama.dispose();
  await mllama.dispose();
});

test("the budget is at least this machine's memory; the estimate is what the mllama engine allocates for its K/V", async () => {
  expect(memoryBudget()).toBeGreaterThanOrEqual(totalmem());
  // The mllama engine reports the self-attention cache it allocated: the estimate is exactly that.
  for (const kvType of ["f16", "f32"] as const) {
    const context = await mllama.createContext({ contextSize: 512, sequences: 2, threads: 1, kvType });
    expect(kvCacheBytes(mllama.metadata, 512, kvType === "f32" ? 4 : 2)).toBe(context.info.memory!.kvBytes);
    await context.dispose();
  }
});

test.each([
  ["llama.cpp", () => llama],
  ["mllama", () => mllama],
] as const)("%s: a contextSize that needs more than the machine has is INSUFFICIENT_MEMORY, before any allocation", async (_, model) => {
  const m = model();
  const perToken = kvCacheBytes(m.metadata, 1, 2);
  const tooMany = Math.ceil((2 * memoryBudget()) / perToken); // twice everything there is
  expect(tooMany).toBeLessThan(2 ** 31); // a size the options otherwise accept
  const contexts = nativeHandleCounts().contexts + nativeHandleCounts().mllamaContexts;
  const error = await m.createContext({ contextSize: tooMany, sequences: 1, threads: 1 }).catch((e: unknown) => e);
  expect(error).toMatchObject({ code: "INSUFFICIENT_MEMORY" });
  expect(String((error as Error).message)).toMatch(/use a smaller contextSize \(at most about \d+\)/);
  expect(nativeHandleCounts().contexts + nativeHandleCounts().mllamaContexts).toBe(contexts);
  // and the model still makes contexts that fit
  const context = await m.createContext({ contextSize: 256, sequences: 1, threads: 1 });
  await context.dispose();
});
