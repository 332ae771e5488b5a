// Our side of each comparison, through the public API, timed as llama.cpp's tools time theirs.
import { performance } from "node:perf_hooks";

const randomTokens = (n, vocab, seed) => {
  let a = seed >>> 0;
  return Array.from({ length: n }, () => {
    a = (Math.imul(a ^ (a >>> 15), 2246822507) + 0x6d2b79f5) >>> 0;
    return 100 + (a % (vocab - 200));
  });
};

/** Prompt processing: `n` tokens in one evaluation (llama-bench -p n). tokens/s. */
export async function promptSpeed(model, { n, threads }) {
  const context = await model.createContext({ contextSize: Math.max(256, n + 16), sequences: 1, batchSize: Math.max(n, 512), threads });
  try {
    const tokens = randomTokens(n + 1, model.vocabSize, n); // the last token stays pending: n are decoded
    // As llama-bench, time a context that has already run (compute buffers allocated, threads up).
    const warm = context.createSequence();
    await warm.evaluate(tokens);
    await warm.dispose();
    const s = context.createSequence();
    const t0 = performance.now();
    await s.evaluate(tokens);
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await context.dispose();
  }
}

/** Decoding: `n` tokens one at a time from an empty cache (llama-bench -n n). tokens/s. */
export async function decodeSpeed(model, { n, threads }) {
  const context = await model.createContext({ contextSize: Math.max(256, n + 16), sequences: 1, threads });
  try {
    const warm = context.createSequence();
    await warm.evaluate(randomTokens(2, model.vocabSize, 5));
    await context.generate([warm], { maxTokens: 4, ignoreEog: true }).result();
    await warm.dispose();
    const s = context.createSequence();
    await s.evaluate(randomTokens(1, model.vocabSize, 7));
    const t0 = performance.now();
    await context.generate([s], { maxTokens: n, ignoreEog: true }).result();
    return n / ((performance.now() - t0) / 1000);
  } finally {
    await context.dispose();
  }
}

/**
 * An image into an empty sequence: preprocessing, the projector's encode and the decode of its
 * embeddings (the image row; llama-mtmd-cli reports encode + decode). Seconds, on a warm context.
 */
export async function imageTime(model, { image, threads }) {
  const context = await model.createContext({ contextSize: 2048, sequences: 1, batchSize: 2048, ubatchSize: 2048, threads });
  try {
    const prompt = { prompt: model.projector.marker, images: [image] };
    const warm = context.createSequence();
    await warm.evaluate(prompt);
    await warm.dispose();
    const s = context.createSequence();
    const t0 = performance.now();
    await s.evaluate(prompt);
    return (performance.now() - t0) / 1000;
  } finally {
    await context.dispose();
  }
}

/**
 * Branching: one prefill of `prefix` tokens, `branches` forks, `gen` tokens each, one batch per step
 * (llama-batched-bench -npp prefix -ntg gen -npl branches -pps -kvu). Seconds, end to end.
 */
export async function branchingTime(model, { prefix, gen, branches, threads }) {
  const context = await model.createContext({ contextSize: prefix + branches * gen + 256, sequences: branches + 1, batchSize: Math.max(512, prefix), threads });
  try {
    const t0 = performance.now();
    const root = context.createSequence();
    await root.evaluate(randomTokens(prefix, model.vocabSize, 3));
    const forks = await Promise.all(Array.from({ length: branches }, () => root.fork()));
    await context.generate(forks, { maxTokens: gen, ignoreEog: true }).result();
    return (performance.now() - t0) / 1000;
  } finally {
    await context.dispose();
  }
}
