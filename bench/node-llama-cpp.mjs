#!/usr/bin/env node
// The node-llama-cpp side of the comparison, run in its own process (two copies of llama.cpp must not
// share one): node-llama-cpp@3.21.1 from the registry with its prebuilt CPU binary, installed into
// bench/.peers only. Prints {"decode": tok/s, "branching": s} as JSON.
//   node bench/node-llama-cpp.mjs MODEL THREADS GEN PREFIX BRANCH_GEN BRANCHES
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, ".peers", "package.json"));
const { getLlama } = await import(require.resolve("node-llama-cpp"));
const [modelPath, threads, gen, prefix, branchGen, branches] = process.argv.slice(2).map((a, i) => (i === 0 ? a : Number(a)));

const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const tokens = (n, seed) => Array.from({ length: n }, (_, i) => 100 + ((i * 7919 + seed * 104729) % 20000));

async function generate(sequence, first, n) {
  let count = 0;
  for await (const token of sequence.evaluate(first)) {
    void token;
    if (++count >= n) break;
  }
}

// decode: n tokens one at a time from an empty cache (as llama-bench -n), on a warm context
const decodeContext = await model.createContext({ contextSize: 512, sequences: 1, threads, batchSize: 512 });
{
  const warm = decodeContext.getSequence();
  await generate(warm, tokens(1, 1), 4);
  warm.dispose();
}
const seq = decodeContext.getSequence();
let t0 = performance.now();
await generate(seq, tokens(1, 2), gen);
const decode = gen / ((performance.now() - t0) / 1000);
await decodeContext.dispose();

// branching: node-llama-cpp has no fork — each of the `branches` sequences evaluates the prefix itself,
// then all generate together (its scheduler batches concurrent sequences)
const context = await model.createContext({ contextSize: branches * (prefix + branchGen + 64), sequences: branches, threads, batchSize: Math.max(512, prefix) });
const sequences = Array.from({ length: branches }, () => context.getSequence());
t0 = performance.now();
const shared = tokens(prefix, 3);
await Promise.all(
  sequences.map(async (s) => {
    await s.evaluateWithoutGeneratingNewTokens(shared.slice(0, -1));
    await generate(s, shared.slice(-1), branchGen);
  }),
);
const branching = (performance.now() - t0) / 1000;
await context.dispose();
await model.dispose();
process.stdout.write(`${JSON.stringify({ decode, branching })}\n`);
