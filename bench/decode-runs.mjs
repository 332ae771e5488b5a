// Decode runs on and off, paired on one warm machine (README, Benchmark): a lone sequence decoding N
// tokens greedily, and 4 forks of a shared prefix decoding M tokens each, each measured with
// createContext({ decodeRuns }) true and false in alternating order, R rounds. Prints every round's
// pair and the median of the paired ratios (runs / step by step, in tokens per second), which a
// drifting shared machine moves less than either side alone.
//
//   node bench/decode-runs.mjs MODEL.gguf [--rounds 5] [--tokens 128] [--prefix 1024] [--branch-tokens 64] [--threads N] [--gpu-layers N]
//
// Run it alone on the machine, after `npx tsc -p tsconfig.build.json`.
import { availableParallelism } from "node:os";
import { performance } from "node:perf_hooks";
import { loadModel } from "../dist/index.js";
import { median } from "./medians.mjs";

const argv = process.argv.slice(2);
const path = argv.find((a) => !a.startsWith("--") && !/^\d/.test(a));
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return Number(i >= 0 ? argv[i + 1] : fallback);
};
if (!path) {
  console.error("usage: node bench/decode-runs.mjs MODEL.gguf [--rounds 5] [--tokens 128] [--prefix 1024] [--branch-tokens 64] [--threads N] [--gpu-layers N]");
  process.exit(2);
}
const rounds = option("rounds", 5);
const tokens = option("tokens", 128);
const prefix = option("prefix", 1024);
const branchTokens = option("branch-tokens", 64);
const threads = option("threads", availableParallelism());
const gpuLayers = option("gpu-layers", 0);

const model = await loadModel({ path, gpuLayers });
const ids = (n, seed) => Array.from({ length: n }, (_, i) => 100 + ((i * 7919 + seed * 104729) % (model.vocabSize - 200)));

/** Tokens per second of `width` sequences generating `n` tokens each after `promptLength` prompt tokens. */
async function decodeRate(decodeRuns, width, promptLength, n) {
  const context = await model.createContext({ contextSize: promptLength + width * n + 256, sequences: width + 1, batchSize: Math.max(512, promptLength), threads, decodeRuns });
  try {
    const root = context.createSequence();
    await root.evaluate(ids(promptLength, 3));
    const sequences = width === 1 ? [root] : await Promise.all(Array.from({ length: width }, () => root.fork()));
    await context.generate(sequences, { maxTokens: 2, ignoreEog: true }).result(); // warm
    const t0 = performance.now();
    await context.generate(sequences, { maxTokens: n, ignoreEog: true }).result();
    return (width * n) / ((performance.now() - t0) / 1000);
  } finally {
    await context.dispose();
  }
}

try {
  for (const [name, width, promptLength, n] of [
    [`1 sequence, ${tokens} tokens`, 1, 2, tokens],
    [`4 forks of a ${prefix}-token prefix, ${branchTokens} tokens each`, 4, prefix, branchTokens],
  ]) {
    const ratios = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? [true, false] : [false, true];
      const rate = {};
      for (const on of order) rate[on] = await decodeRate(on, width, promptLength, n);
      ratios.push(rate[true] / rate[false]);
      console.log(`${name}, round ${r + 1}: runs ${rate[true].toFixed(2)} tok/s, step by step ${rate[false].toFixed(2)} tok/s, ratio ${ratios.at(-1).toFixed(3)}`);
    }
    console.log(`${name}: median ratio runs / step by step ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})\n`);
  }
} finally {
  await model.dispose();
}
