// Our greedy continuation of a raw prompt must equal what llama.cpp's own examples/simple prints for
// the same model: same sources, same build flags (scripts/prepare-native.mjs --peers builds it).
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { loadModel, type Context, type Model } from "../lib/index.js";
import { llamaBinDir, tinyLlama } from "./fixtures/models.js";

const llamaSimple = join(llamaBinDir, "llama-simple");
let model: Model;
let context: Context;

beforeAll(async () => {
  if (!existsSync(llamaSimple)) {
    throw new Error(`${llamaSimple} is missing: build llama.cpp's reference tools with \`npm run build:peers\``);
  }
  model = await loadModel({ path: tinyLlama() });
  context = await model.createContext({ contextSize: 512, sequences: 2, threads: 1 });
});

afterAll(async () => {
  await model.dispose();
});

const pieces = (tokens: readonly number[]) =>
  Buffer.concat(tokens.map((t) => Buffer.from(model.native.tokenPiece(t, true)))).toString("utf8");

test.each([
  ["Hello my name is"],
  ["Über den Wolken: 42 × 7 = ?"],
])("greedy continuation of %j equals llama-simple's", async (prompt) => {
  const nPredict = 16;
  // llama-simple runs with its default 4 threads, slow on 2 cores but deterministic.
  const stdout = execFileSync(llamaSimple, ["-m", tinyLlama(), "-n", String(nPredict), prompt], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
    timeout: 60_000,
  });

  const sequence = context.createSequence();
  await sequence.evaluate(prompt); // BOS added, special text parsed: as llama-simple tokenizes
  const promptText = pieces(sequence.tokens);
  const [result] = await context.generate([sequence], { maxTokens: nPredict }).result();
  await sequence.dispose();

  expect(stdout.startsWith(promptText)).toBe(true);
  const theirs = stdout.slice(promptText.length).replace(/\n$/, "");
  const eog = result!.stopReason === "eog";
  const ours = pieces(eog ? result!.tokens.slice(0, -1) : result!.tokens);
  expect(ours.length).toBeGreaterThan(0);
  expect(ours).toBe(theirs);
}, 120_000);
