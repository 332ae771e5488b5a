// The eval model's export is faithful: a model trained by eval/train/tiny_llava.py, written by
// writeTrainedLlava and run by stagebeam (llama.cpp + libmtmd), gives the same next-token distribution
// as the torch model for a prompt with an image. A few training steps on made-up data give weights that
// are not the initial ones (so a tensor written transposed, a wrong rope, a misplaced class token or a
// lost unused-token row all show); with EVAL_MODEL_DIR set to a cached eval/.models/<key> folder, the
// real trained model is checked the same way. Needs torch (see `python` below).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { writeTrainedLlava } from "../../lib/gguf/trained-llava.js";
import { loadModel, type Model } from "../../lib/model.js";
import { preparePrompt } from "../../lib/prompt.js";
import { seededRandom } from "../../lib/seeded-random.js";
import { mllamaVenvPython } from "../fixtures/mllama/reference.js";
import { repoRoot, vocabPath } from "../fixtures/models.js";

// The training venv if there is one, else the mllama parity tests' pinned venv (test/.venv-mllama, made on
// first use from the local wheelhouse), which holds the same torch 2.13.0+cpu and numpy: so CI runs this
// test without a second venv, and a machine without the wheelhouse skips it (CI then fails instead).
const trainingPython = join(repoRoot, "eval", ".venv", "bin", "python");
const python = existsSync(trainingPython) ? trainingPython : await mllamaVenvPython();
const trainer = join(repoRoot, "eval", "train", "tiny_llava.py");
const available = python !== null;

const SMALL = { embd: 64, layers: 2, heads: 4, ff: 128, v_embd: 32, v_layers: 2, v_heads: 2, v_ff: 64, image_size: 32, patch: 8 };
const work = mkdtempSync(join(tmpdir(), "stagebeam-llava-parity-"));
const models: Model[] = [];
afterAll(async () => {
  for (const m of models) await m.dispose();
});

/** Pictures of flat random rectangles (so patches differ), size × size RGB. */
function picture(random: () => number, size: number): Uint8Array {
  const data = new Uint8Array(size * size * 3).fill(255);
  for (let r = 0; r < 4; r++) {
    const [x0, y0] = [Math.floor(random() * size), Math.floor(random() * size)];
    const colour = [0, 1, 2].map(() => Math.floor(random() * 256));
    for (let y = y0; y < Math.min(size, y0 + 10); y++) for (let x = x0; x < Math.min(size, x0 + 10); x++) data.set(colour, (y * size + x) * 3);
  }
  return data;
}

/** A few steps of training on made-up examples (random tokens around one picture each), then export. */
function trainSmall(): string {
  const random = seededRandom(11);
  const data = join(work, "tokens");
  mkdirSync(data, { recursive: true });
  const n = SMALL.image_size ** 2 / SMALL.patch ** 2;
  const images = Array.from({ length: 4 }, () => picture(random, SMALL.image_size));
  writeFileSync(join(data, "images.u8"), Buffer.concat(images.map((i) => Buffer.from(i))));
  const token = () => 100 + Math.floor(random() * 400);
  const examples = images.map((_, image) => {
    const ids = [1, token(), ...Array(n).fill(-1), ...Array.from({ length: 12 }, token)];
    return { ids, loss_from: ids.length - 6, image };
  });
  writeFileSync(join(data, "examples.jsonl"), examples.map((e) => JSON.stringify(e)).join("\n"));
  writeFileSync(join(data, "meta.json"), JSON.stringify({ image_size: SMALL.image_size, n_vocab: 32000, always: [2] }));
  const config = { ...SMALL, seed: 3, lr: 3e-3, batch_tokens: 4000, train_seconds: 60, max_steps: 5, threads: 1 };
  const run = spawnSync(python!, [trainer, "train", "--data", data, "--out", join(work, "weights"), "--config", JSON.stringify(config)], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(run.stderr);
  writeTrainedLlava({ weightsDir: join(work, "weights"), vocabPath: vocabPath(), modelPath: join(work, "model.gguf"), projectorPath: join(work, "mmproj.gguf") });
  return work;
}

/** Both sides' log-probabilities of `probes` after a question about `rgb`, and the token ids the prompt became. */
async function compare(dir: string, weightsDir: string, rgb: Uint8Array, size: number) {
  const model = await loadModel({ path: join(dir, "model.gguf"), projector: join(dir, "mmproj.gguf") });
  models.push(model);
  const prompt = model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text: "How many red circles are there in the image?" }] }]);
  const image = { width: size, height: size, data: rgb };
  const prepared = await preparePrompt(model, { prompt, images: [image] }, { addSpecial: true, parseSpecial: true });
  const ids = prepared.segments.flatMap((s) => (s.type === "text" ? s.tokens : Array<number>(s.cells).fill(-1)));
  writeFileSync(join(work, "ids.json"), JSON.stringify(ids));
  writeFileSync(join(work, "image.rgb"), rgb);
  const run = spawnSync(python!, [trainer, "logits", "--weights", weightsDir, "--ids", join(work, "ids.json"), "--image", join(work, "image.rgb")], { encoding: "utf8", maxBuffer: 1 << 28 });
  if (run.status !== 0) throw new Error(run.stderr);
  const logits = JSON.parse(run.stdout) as number[];
  const max = Math.max(...logits);
  const logSum = max + Math.log(logits.reduce((s, l) => s + Math.exp(l - max), 0));
  const torchLogprobs = logits.map((l) => l - logSum);
  // every token the torch side ranks in its top 200, and a spread of the others
  const probes = [...new Set([...torchLogprobs.map((l, t) => [l, t] as const).sort((a, b) => b[0] - a[0]).slice(0, 200).map(([, t]) => t), ...Array.from({ length: 100 }, (_, i) => i * 317)])];
  const context = await model.createContext({ contextSize: 512, kvType: "f32", flashAttention: "off" });
  const sequence = context.createSequence();
  const { next } = await sequence.evaluate({ prompt, images: [image] }, { logprobs: { probes } });
  await context.dispose();
  return { ids, probes, engine: next!.probes, torch: probes.map((t) => torchLogprobs[t]!) };
}

describe.skipIf(!available)("trained llava export", () => {
  test("stagebeam's next-token log-probabilities after an image prompt match the torch model's", async () => {
    const dir = trainSmall();
    const rgb = picture(seededRandom(5), SMALL.image_size);
    const { ids, probes, engine, torch } = await compare(dir, join(dir, "weights"), rgb, SMALL.image_size);
    expect(ids.filter((t) => t === -1)).toHaveLength((SMALL.image_size / SMALL.patch) ** 2);
    const worst = Math.max(...engine.map((e, i) => Math.abs(e - torch[i]!)));
    expect(worst).toBeLessThan(2e-3);
    // the check can fail: another picture gives another distribution, beyond the tolerance
    const torchFirst = new Map(probes.map((t, i) => [t, torch[i]!] as const));
    const other = await compare(dir, join(dir, "weights"), picture(seededRandom(6), SMALL.image_size), SMALL.image_size);
    const shared = other.probes.map((t, i) => [t, other.engine[i]!] as const).filter(([t]) => torchFirst.has(t));
    expect(shared.length).toBeGreaterThan(50);
    expect(Math.max(...shared.map(([t, e]) => Math.abs(e - torchFirst.get(t)!)))).toBeGreaterThan(2e-3);
  }, 180_000);

  test.skipIf(!process.env.EVAL_MODEL_DIR)("the cached eval model (EVAL_MODEL_DIR) matches its torch weights too", async () => {
    const dir = process.env.EVAL_MODEL_DIR!;
    const { readFileSync } = await import("node:fs");
    const size = JSON.parse(readFileSync(join(dir, "weights", "manifest.json"), "utf8")).config.image_size as number;
    const rgb = picture(seededRandom(5), size);
    const { engine, torch } = await compare(dir, join(dir, "weights"), rgb, size);
    const worst = Math.max(...engine.map((e, i) => Math.abs(e - torch[i]!)));
    console.log(`eval model parity: worst |Δ logprob| = ${worst.toExponential(2)} over ${engine.length} tokens`);
    expect(worst).toBeLessThan(2e-3);
  }, 180_000);
});
