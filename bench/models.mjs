// The benchmarks' text models, written once into bench/.models (gitignored) and reused by every run.
// Smoke: the tiny test llama at Q8_0. Full: Llama-3.2-1B-shaped (2048 wide, 16 layers, 32 heads / 8 KV
// heads, FFN 8192, the 128256-token Llama 3 vocabulary, tied embeddings) with random weights — speed does
// not depend on trained values — at Q4_0 and Q8_0.
import { existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { quantizeModel } from "../dist/index.js";
import { writeTinyLlama } from "../dist/gguf/tiny-llama.js";

/** The models as `{ type, path }`, and whether this call wrote any (the first run does: ~2 min). */
export async function benchModels(root, { smoke, say }) {
  const dir = join(root, "bench", ".models");
  mkdirSync(dir, { recursive: true });
  let wrote = false;
  const make = async (name, shape, types) => {
    const f32 = join(dir, `${name}-f32.gguf`);
    const out = types.map((type) => ({ type, path: join(dir, `${name}-${type}.gguf`) }));
    if (out.every((o) => existsSync(o.path))) return out;
    if (!existsSync(f32)) {
      say(`writing ${f32} …`);
      wrote = true;
      writeTinyLlama(`${f32}.partial`, { seed: 42, ...shape });
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
    ? await make("tiny-llama", { vocabPath: join(root, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf") }, ["q8_0"])
    : // "-r2": the revision of the writer's weights (r2: tied embeddings scaled so sampling is not stuck on
      // one token); a changed revision makes the cached models stale.
      await make(
        "llama-3.2-1b-shaped-r2",
        {
          vocabPath: join(root, "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf"),
          embeddingSize: 2048,
          layers: 16,
          heads: 32,
          kvHeads: 8,
          feedForwardSize: 8192,
          contextLength: 131072,
          tieEmbeddings: true,
          name: "Llama-3.2-1B-shaped (random weights)",
        },
        ["q4_0", "q8_0"],
      );
  return { models, wrote };
}
