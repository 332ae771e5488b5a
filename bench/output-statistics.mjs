#!/usr/bin/env node
// How concentrated a model's next-token distributions are where the search samples them: from a few
// prompts, decode with the paper's sampling (temperature 0.6, top-p 0.9, lib/reasoning/options.ts) and
// read the whole raw distribution at every step. Reports the mean entropy at temperature 0.6 (and at 1,
// the temperature published measurements use) and the top-p 0.9 nucleus as stagebeam's chain takes it
// (llama.cpp's order: top-p before temperature, so on the raw distribution), and how often that nucleus
// fits in the 256 candidates llama.cpp's top-p sorts before falling back to sorting the whole vocabulary.
//   node bench/output-statistics.mjs MODEL.gguf [steps per prompt]
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { loadModel } from "../dist/index.js";
import { seededRandom } from "../dist/seeded-random.js";

export const SAMPLING = { temperature: 0.6, topP: 0.9 };
/** llama.cpp's top-p sorts this many candidates first (src/llama-sampler.cpp, llama_sampler_top_p_apply). */
export const TOP_P_FAST_CANDIDATES = 256;
export const PROMPTS = [
  "How many apples are on the table, and what colour are they?",
  "Summarize the water cycle in two sentences.",
  "Write a short reply thanking a colleague for their help.",
];

/**
 * One step's raw distribution (logprobs over the whole vocabulary) summarized: entropies (nats) at the
 * search's temperature and at 1, the top-p nucleus (size, and the smallest logprob in it), and whether
 * the nucleus is within llama.cpp's top-p fast path (the top 256 hold at least p).
 */
export function distributionStatistics(logprobs, { temperature, topP } = SAMPLING) {
  const sorted = Float64Array.from(logprobs).sort().reverse();
  // Entropy of softmax(logprob / T): logprobs are logits up to a constant, which the softmax drops.
  const entropyAt = (t) => {
    let z = 0;
    let weighted = 0;
    for (const l of sorted) {
      const x = (l - sorted[0]) / t;
      const e = Math.exp(x);
      z += e;
      weighted += e * x;
    }
    return Math.log(z) - weighted / z;
  };
  let mass = 0;
  let nucleus = 0;
  while (mass < topP && nucleus < sorted.length) mass += Math.exp(sorted[nucleus++]);
  let top = 0;
  for (let i = 0; i < Math.min(TOP_P_FAST_CANDIDATES, sorted.length); i++) top += Math.exp(sorted[i]);
  return { entropy: entropyAt(temperature), entropyT1: entropyAt(1), nucleus, floor: sorted[nucleus - 1], fast: top >= topP };
}

/**
 * One draw as stagebeam's chain makes it (native/sampler.cpp, llama.cpp's order): the top-p nucleus of the
 * raw distribution (the tokens at or above its smallest logprob), then temperature over what is kept.
 */
function draw(logprobs, { floor }, random) {
  const kept = [];
  for (let t = 0; t < logprobs.length; t++) if (logprobs[t] >= floor) kept.push(t);
  const weights = kept.map((t) => Math.exp((logprobs[t] - floor) / SAMPLING.temperature));
  let u = random() * weights.reduce((a, b) => a + b, 0);
  for (const [i, w] of weights.entries()) {
    u -= w;
    if (u <= 0) return kept[i];
  }
  return kept[kept.length - 1];
}

/**
 * Decodes `steps` tokens from each prompt with the search's sampling, reading the whole raw distribution
 * at every step (the addon's probes, one per vocabulary token), and summarizes them:
 * `{ steps, entropy, entropyT1, nucleus: { median, p90, max }, fastPath, distinct }` — mean entropies in
 * nats, nucleus sizes in tokens, fastPath the share of steps whose nucleus fits in 256 candidates,
 * distinct the share of distinct sampled tokens (a model stuck repeating one token has few).
 */
export async function outputStatistics(model, { steps = 16, threads, seed = 1, prompts = PROMPTS } = {}) {
  const context = await model.createContext({ contextSize: 512, sequences: 1, threads });
  const vocabulary = Array.from({ length: model.vocabSize }, (_, i) => i);
  const random = seededRandom(seed);
  const each = [];
  const tokens = [];
  try {
    for (const prompt of prompts) {
      const s = context.createSequence();
      let input = `[INST] ${prompt} [/INST]`;
      for (let step = 0; step < steps; step++) {
        const { next } = await s.evaluate(input, { logprobs: { probes: vocabulary } });
        const logprobs = Float64Array.from(next.probes);
        const step = distributionStatistics(logprobs);
        each.push(step);
        const token = draw(logprobs, step, random);
        tokens.push(token);
        input = [token];
      }
      await s.dispose();
    }
  } finally {
    await context.dispose();
  }
  const nuclei = each.map((x) => x.nucleus).sort((a, b) => a - b);
  const at = (q) => nuclei[Math.min(nuclei.length - 1, Math.floor(q * nuclei.length))];
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    steps: each.length,
    entropy: mean(each.map((x) => x.entropy)),
    entropyT1: mean(each.map((x) => x.entropyT1)),
    nucleus: { median: at(0.5), p90: at(0.9), max: nuclei[nuclei.length - 1] },
    fastPath: each.filter((x) => x.fast).length / each.length,
    distinct: new Set(tokens).size / tokens.length,
  };
}

/** One line for the results: what `outputStatistics` measured. */
export function describeOutputStatistics(o) {
  return (
    `mean next-token entropy at T=${SAMPLING.temperature}: ${o.entropy.toFixed(2)} nats (at T=1: ${o.entropyT1.toFixed(2)}); ` +
    `top-p ${SAMPLING.topP} nucleus: median ${o.nucleus.median} tokens (90th percentile ${o.nucleus.p90}, max ${o.nucleus.max}), ` +
    `within llama.cpp's ${TOP_P_FAST_CANDIDATES}-candidate fast path at ${Math.round(o.fastPath * 100)}% of ${o.steps} steps`
  );
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const model = await loadModel({ path: process.argv[2] });
  try {
    const o = await outputStatistics(model, { steps: Number(process.argv[3] ?? 16) });
    console.log(describeOutputStatistics(o));
    console.log(JSON.stringify(o));
  } finally {
    await model.dispose();
  }
}
