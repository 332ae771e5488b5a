// Quantized models through the native build: Q8_0 and Q4_0 versions of the tiny model load and
// generate. On CPUs with AMX (these Xeons), Q4_0/Q8_0 matmuls take ggml's AMX kernels — the path GCC 12
// builds crash on (SIGILL) and the clang build must run.
import { statSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { loadModel, quantizeModel } from "../lib/index.js";
import { fixturesDir, tinyLlama } from "./fixtures/models.js";

test.each(["q8_0", "q4_0"] as const)("a %s model made by quantizeModel loads and generates", async (type) => {
  const source = tinyLlama();
  const output = join(fixturesDir, `tiny-llama-${type}.gguf`);
  await quantizeModel({ input: source, output, type, threads: 2 });
  expect(statSync(output).size).toBeLessThan(statSync(source).size / 3);
  const model = await loadModel({ path: output });
  expect(model.metadata.description).toContain(type === "q8_0" ? "Q8_0" : "Q4_0");
  const context = await model.createContext({ contextSize: 256, sequences: 2, threads: 2 });
  const s = context.createSequence();
  await s.evaluate("Hello my name is ".repeat(8)); // a batch large enough for the matmul kernels
  const [r] = await context.generate([s], { maxTokens: 8 }).result();
  expect(r!.tokens).toHaveLength(8);
  await model.dispose();
});

test("bad quantization requests are typed errors", async () => {
  await expect(quantizeModel({ input: join(fixturesDir, "nope.gguf"), output: join(fixturesDir, "x.gguf"), type: "q8_0" })).rejects.toMatchObject({
    code: "MODEL_NOT_FOUND",
  });
  await expect(quantizeModel({ input: tinyLlama(), output: join(fixturesDir, "x.gguf"), type: "q3_weird" as "q8_0" })).rejects.toMatchObject({
    code: "INVALID_ARGUMENT",
  });
});
