// The tiny llama writer's logitScale: it multiplies the logits and nothing else (the benchmark's
// "realistic" models rely on that: same weights, same input path, only a sharper output distribution).
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { writeTinyLlama } from "../../lib/gguf/tiny-llama.js";
import { loadModel, type Model } from "../../lib/index.js";
import { tinyLlama, vocabPath } from "../fixtures/models.js";

const SCALE = 3;
const PROMPT = "[INST] How many apples are on the table? [/INST]";
let plain: Model;
let scaled: Model;

beforeAll(async () => {
  plain = await loadModel({ path: tinyLlama("tiny-llama-logit-scale-1", { logitScale: 1 }) });
  scaled = await loadModel({ path: tinyLlama(`tiny-llama-logit-scale-${SCALE}`, { logitScale: SCALE }) });
});

afterAll(async () => {
  await plain?.dispose();
  await scaled?.dispose();
});

/** The raw next-token logprobs of every vocabulary token after `input`, token by token. */
async function logprobsAfter(model: Model, input: string | number[], probes: number[]): Promise<number[][]> {
  const context = await model.createContext({ contextSize: 128, sequences: 1, threads: 1 });
  try {
    const s = context.createSequence();
    const rows: number[][] = [];
    const tokens = typeof input === "string" ? model.tokenize(input) : input;
    // Several positions: the scale must hold whatever the hidden state.
    for (const [i, token] of tokens.entries()) {
      const { next } = await s.evaluate([token], i >= tokens.length - 3 ? { logprobs: { probes } } : {});
      if (next) rows.push(next.probes);
    }
    return rows;
  } finally {
    await context.dispose();
  }
}

describe("writeTinyLlama logitScale", () => {
  test("multiplies every logit by the scale: logprob differences scale exactly, the input path is unchanged", async () => {
    const probes = Array.from({ length: plain.vocabSize }, (_, i) => i);
    const a = await logprobsAfter(plain, PROMPT, probes);
    const b = await logprobsAfter(scaled, PROMPT, probes);
    expect(a).toHaveLength(3);
    for (const [row, x] of a.entries()) {
      const y = b[row]!;
      // logprob = logit − logsumexp(logits): differences against one reference token are logit differences
      let worst = 0;
      let spread = 0;
      for (let t = 1; t < x.length; t++) {
        const want = SCALE * (x[t]! - x[0]!);
        worst = Math.max(worst, Math.abs(y[t]! - y[0]! - want));
        spread = Math.max(spread, Math.abs(want));
      }
      expect(spread).toBeGreaterThan(1);
      expect(worst).toBeLessThan(1e-3 * spread);
    }
    // a sharper distribution: the top token takes more mass
    expect(Math.max(...b[0]!)).toBeGreaterThan(Math.max(...a[0]!));
  });

  test("the default is scale 1: the same file as before the option existed", async () => {
    const base = await loadModel({ path: tinyLlama() });
    try {
      const probes = [0, 1, 2, 100, 1000];
      expect(await logprobsAfter(base, PROMPT, probes)).toEqual(await logprobsAfter(plain, PROMPT, probes));
    } finally {
      await base.dispose();
    }
  });

  test("a scale that is not a positive number is refused, as is a scale with trained weights", () => {
    for (const logitScale of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => writeTinyLlama("/nonexistent/never-written.gguf", { vocabPath: vocabPath(), logitScale })).toThrow(/logitScale must be a positive number/);
    }
    expect(() => writeTinyLlama("/nonexistent/never-written.gguf", { vocabPath: vocabPath(), logitScale: 2, weights: new Map() })).toThrow(/random weights/);
  });
});
