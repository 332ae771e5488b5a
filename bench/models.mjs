// The benchmarks' text models, written once into bench/.models (gitignored) and reused by every run.
// Smoke: the tiny test llama at Q8_0. Full: Llama-3.2-1B-shaped (2048 wide, 16 layers, 32 heads / 8 KV
// heads, FFN 8192, the 128256-token Llama 3 vocabulary, tied embeddings) with random weights — speed does
// not depend on trained values — at Q4_0 and Q8_0.
//
// Two variants of the same weights. "realistic" (every row by default) multiplies the logits by
// REALISTIC_LOGIT_SCALE, so that sampling sees the concentrated next-token distributions of an
// instruction-tuned chat model. Target: a mean next-token entropy of 0.5–1 nat at T=1 (about 0.3–0.6 at the
// search's temperature 0.6) and a top-p 0.9 nucleus of a handful of tokens, well inside llama.cpp's
// 256-candidate top-p fast path. Measured on the 1B-shaped Q4_0 model (48 sampled steps from 3 prompts):
// 0.42 nats at T=0.6, 0.79 at T=1, nucleus median 2 tokens (max 7), fast path at every step. "flat" is
// the raw random model: nearly uniform over 128k tokens (9.7 nats at T=1, 6.2 at T=0.6, a nucleus of
// ~30k tokens, so top-p sorts the whole vocabulary every step), kept for the worst-case rows.
// bench/output-statistics.mjs measures both in every run.
//
// Why 0.5–1 nat at T=1: published per-token entropies of instruction-tuned models sit there or below: Wang
// et al. 2025 ("Beyond the 80/20 Rule", arXiv:2506.01939) find 80% of Qwen3-8B's chain-of-thought tokens
// below 0.672 nats, the majority far lower; Yang & Holtzman 2025 ("How Alignment Shrinks the Generative Horizon",
// arXiv:2506.17871) find alignment cuts the branching factor exp(mean entropy) by 2–5× overall (12 → 1.2 at
// the first positions). We aim at the upper end so the sampler's work is not understated. What scaling
// does not make realistic: a random network at this concentration often repeats a token several times
// (42% of sampled tokens distinct on the 1B model, against 96% flat); run.mjs prints that share too.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { quantizeModel } from "../dist/index.js";
import { writeTinyLlama } from "../dist/gguf/tiny-llama.js";

/**
 * The realistic variant's logit scale (tiny-llama.ts `logitScale`): measured, not derived (the logits of
 * a random network are only roughly Gaussian). Calibrated on a 256-wide, 16-layer model with this
 * vocabulary and initialisation (the logit spread does not depend on the width): scale 4 gave 0.67 nats
 * at T=0.6, 5 gave 0.59, 6 gave 0.35; confirmed on the 1B shape (README, bench/results).
 */
export const REALISTIC_LOGIT_SCALE = 5;
export const VARIANTS = { realistic: REALISTIC_LOGIT_SCALE, flat: 1 };

/**
 * The models of one variant ("realistic" by default, or "flat") as `{ type, path }`, and whether this call
 * wrote any (the first run does: ~2 min per variant). `types` narrows the quantizations made.
 */
export async function benchModels(root, { smoke, say, variant = "realistic", types }) {
  const logitScale = VARIANTS[variant];
  if (logitScale === undefined) throw new Error(`unknown bench model variant ${variant}`);
  const dir = join(root, "bench", ".models");
  mkdirSync(dir, { recursive: true });
  let wrote = false;
  const make = async (name, shape, wanted) => {
    const f32 = join(dir, `${name}-f32.gguf`);
    const out = wanted.map((type) => ({ type, path: join(dir, `${name}-${type}.gguf`) }));
    if (out.every((o) => existsSync(o.path))) return out;
    if (!existsSync(f32)) {
      say(`writing ${f32} …`);
      wrote = true;
      writeTinyLlama(`${f32}.partial`, { seed: 42, ...shape, logitScale });
      renameSync(`${f32}.partial`, f32);
    }
    for (const o of out) {
      if (existsSync(o.path)) continue;
      say(`quantizing to ${o.type} …`);
      await quantizeModel({ input: f32, output: o.path, type: o.type });
    }
    if (!smoke) rmSync(f32); // several GB; the quantized models are what is kept
    return out;
  };
  const models = smoke
    ? await make(`tiny-llama-${variant}`, { vocabPath: join(root, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf") }, types ?? ["q8_0"])
    : // "-r2": the revision of the writer's weights (r2: tied embeddings scaled so sampling is not stuck on
      // one token); a changed revision makes the cached models stale. The variant only sets the logit scale.
      await make(
        `llama-3.2-1b-shaped-r2-${variant}`,
        {
          vocabPath: join(root, "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf"),
          embeddingSize: 2048,
          layers: 16,
          heads: 32,
          kvHeads: 8,
          feedForwardSize: 8192,
          contextLength: 131072,
          tieEmbeddings: true,
          name: `Llama-3.2-1B-shaped (random weights, ${variant} logits)`,
        },
        types ?? ["q4_0", "q8_0"],
      );
  return { models, wrote };
}
