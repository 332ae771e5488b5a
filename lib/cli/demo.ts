// `stagebeam demo`: the whole pipeline in seconds with no download — a tiny random-weight model and
// projector (written into the cache), a generated image, a stage-beam search with the live view. The
// weights are random, so the words are noise: what it shows is the machinery.
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { writeTinyClip } from "../gguf/tiny-clip.js";
import { writeTinyLlama } from "../gguf/tiny-llama.js";
import { writeTinyMllama } from "../gguf/tiny-mllama.js";
import { cacheDir } from "../hub/cache.js";
import { loadModel } from "../model.js";
import { seededRandom } from "../seeded-random.js";
import { STAGES } from "../reasoning/stages.js";
import { liveView } from "./live-view.js";
import { terminal } from "./terminal.js";

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** The vocabulary the tiny model borrows: shipped in the package, or llama.cpp's test file in a clone. */
function vocabularyFile(): string {
  for (const candidate of [join(packageRoot, "assets", "ggml-vocab-llama-spm.gguf"), join(packageRoot, "llama.cpp", "models", "ggml-vocab-llama-spm.gguf")]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error("the demo vocabulary (ggml-vocab-llama-spm.gguf) is missing from this installation: reinstall stagebeam");
}

export function registerDemo(program: Command, signal: AbortSignal): void {
  program
    .command("demo")
    .description("run a stage-beam search on a tiny random-weight model: no download, seconds")
    .option("--width <n>", "candidates per stage", "2")
    .option("--mllama", "a tiny Llama 3.2 Vision (mllama, LLaVA-CoT's architecture) pair on stagebeam's own engine")
    .option("-q, --quiet", "no live view")
    .action(async (o: { width: string; quiet?: boolean; mllama?: boolean }) => {
      const term = terminal(o.quiet);
      const dir = join(cacheDir(), "demo");
      let modelPath = join(dir, "tiny-llama.gguf");
      let projectorPath = join(dir, "tiny-mmproj.gguf");
      if (o.mllama) {
        modelPath = join(dir, "tiny-mllama.gguf");
        projectorPath = join(dir, "mmproj-tiny-mllama.gguf");
        if (!existsSync(modelPath) || !existsSync(projectorPath)) {
          term.status("writing a tiny random-weight mllama pair…");
          writeTinyMllama({ dir, seed: 11 });
        }
      } else if (!existsSync(modelPath) || !existsSync(projectorPath)) {
        mkdirSync(dir, { recursive: true });
        term.status("writing a tiny random-weight model…");
        writeTinyLlama(modelPath, { vocabPath: vocabularyFile(), seed: 42 });
        writeTinyClip(projectorPath, { textEmbeddingSize: 64, seed: 7 });
      }
      process.stderr.write("stagebeam demo: a tiny model with RANDOM WEIGHTS — the words are noise; the search is real.\n");
      const random = seededRandom(3);
      const image = { width: 56, height: 56, data: Uint8Array.from({ length: 56 * 56 * 3 }, () => Math.floor(random() * 256)) };
      const model = await loadModel({ path: modelPath, projector: projectorPath, signal });
      try {
        const context = await model.createContext({ contextSize: 4096, sequences: 32, threads: 1, prefixCache: { sequences: 2 } });
        const result = await model.reason({
          context,
          image,
          question: "What is shown in the image?",
          strategy: "stage-beam",
          width: Number(o.width) || 2,
          seed: 1,
          forceStructure: "grammar",
          maxStageTokens: 8,
          maxJudgeTokens: 16,
          judge: "logprob",
          signal,
          onEvent: liveView(term),
        });
        term.clear();
        for (const stage of STAGES) process.stdout.write(`${stage}: ${result.stages[stage]}\n`);
        const c = result.counts;
        process.stderr.write(
          `image encodes: ${c.imageEncodes}, candidates: ${c.candidates}, judge calls: ${c.judgeCalls}, ` +
            `tokens generated: ${c.generatedTokens}, decode calls: ${c.decodeCalls}, ${result.timings.totalMs} ms\n`,
        );
      } finally {
        await model.dispose();
      }
    });
}
