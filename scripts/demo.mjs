#!/usr/bin/env node
// A first run with no download: writes a tiny random-weight llama model (vocabulary from llama.cpp's own
// test files), evaluates a prompt once, forks it four ways and generates all four candidates in one
// batch per step. The text is gibberish — the weights are random — but every mechanism is the real one.
// (The staged-reasoning `stagebeam demo` CLI replaces this once the reasoning issue lands.)
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "../dist/index.js";
import { writeTinyLlama } from "../dist/gguf/tiny-llama.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const path = join(root, "test", ".fixtures", "demo-tiny-llama.gguf");
if (!existsSync(path)) {
  mkdirSync(dirname(path), { recursive: true });
  writeTinyLlama(path, { vocabPath: join(root, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf"), seed: 42 });
}

const model = await loadModel({ path });
console.log(`model: ${model.metadata.name} — ${model.metadata.description} (RANDOM WEIGHTS: the text is noise)`);
const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1 });

const prompt = context.createSequence();
await prompt.evaluate(model.applyChatTemplate([{ role: "user", content: "Describe the image step by step." }]));
const candidates = await Promise.all([1, 2, 3, 4].map(() => prompt.fork()));
console.log(`prompt: ${prompt.length} tokens evaluated once; 4 forks share its ${context.usedCells} KV cells`);

const callsBefore = context.stats.decodeCalls;
const started = performance.now();
const results = await context
  .generate(
    candidates.map((sequence, i) => ({ sequence, sampling: { temperature: 0.6, topP: 0.9, seed: i + 1 } })),
    { maxTokens: 24 },
  )
  .result();
const ms = performance.now() - started;
results.forEach((r, i) => console.log(`candidate ${i + 1}: ${JSON.stringify(r.text)}`));
console.log(
  `${context.stats.generatedTokens} tokens in ${context.stats.decodeCalls - callsBefore} batched steps, ${ms.toFixed(0)} ms; ` +
    `KV cells in use: ${context.usedCells} (prefix stored once)`,
);
await model.dispose();
