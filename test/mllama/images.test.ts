// Images on the mllama engine through the public API, on the TypeScript-made tiny pair (no Python): an
// image is encoded once and shared by forks, the prefix cache and judges; sequences bound to different
// images batch together; every search strategy runs with an image; bad input is a typed error.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, STAGES, type Context, type Model, type Sequence, type StrategyName } from "../../lib/index.js";
import { MllamaProjector } from "../../lib/mllama/projector.js";
import { join } from "node:path";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { writeTinyMllama } from "../../lib/gguf/tiny-mllama.js";
import { encodePng, pngClaiming, rgbPattern } from "../fixtures/images.js";
import { tinyMllama, vocabPath } from "../fixtures/models.js";
import { preprocessMllamaImage } from "../../lib/mllama/preprocess.js";
import { preprocessReference, readPreprocessTensor } from "../fixtures/mllama/preprocess-reference.js";

let model: Model;
const red = encodePng(56, 28, rgbPattern(56, 28, 3));
const blue = encodePng(40, 60, rgbPattern(40, 60, 17));

beforeAll(async () => {
  const { model: path, projector } = tinyMllama();
  model = await loadModel({ path, projector });
});

afterAll(async () => {
  await model.dispose();
});

const question = (text: string) => model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "text", text }] }]);

async function withImage(context: Context, image: Uint8Array, text = "What is in the image?"): Promise<Sequence> {
  return context.createSequenceFrom({ prompt: question(text), images: [image] });
}

function close(a: readonly number[], b: readonly number[], tolerance: number): boolean {
  return a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) <= tolerance);
}

test("the projector loads as the model's: one token per image, the <|image|> marker", async () => {
  const projector = model.projector as MllamaProjector;
  expect(projector).toBeInstanceOf(MllamaProjector);
  expect(projector.marker).toBe("<|image|>");
  expect(await projector.imageTokens(800, 600)).toEqual({ tokens: 1, positions: 1 });
  expect(projector.rowsPerImage).toBe(4 * 5); // 4 tiles of 2×2 patches + CLS
  expect(question("Hi?")).toContain("<|image|>Hi?");
});

test("on a CPU the vision encoder takes the softmax path unless asked for flash attention; both give the same states", async () => {
  const projector = model.projector as MllamaProjector;
  expect(projector.vision.device).toBe("CPU");
  expect(projector.vision.flashAttention).toBe(false);
  const other = await loadModel({ path: tinyMllama().model });
  try {
    const flash = (await other.loadProjector(tinyMllama().projector, { flashAttention: "on", threads: 1 })) as MllamaProjector;
    expect(flash.vision.flashAttention).toBe(true);
    const a = await flash.encode(await flash.loadImage(red));
    const b = await projector.encode(await projector.loadImage(red));
    expect(a.states.length).toBe(b.states.length);
    let worst = 0;
    for (let i = 0; i < a.states.length; i++) worst = Math.max(worst, Math.abs(a.states[i]! - b.states[i]!));
    expect(worst).toBeGreaterThan(0); // F16 K/V: not the same arithmetic
    expect(worst).toBeLessThan(1e-2);
    await expect(other.loadProjector(tinyMllama().projector, { flashAttention: "fast" as "on" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    await expect(other.loadProjector(tinyMllama().projector, { widenWeights: "yes" as "on" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
  } finally {
    await other.dispose();
  }
});

test("a transparent PNG keeps its alpha through decoding and is composited on white as transformers does", async ({ skip }) => {
  const projector = model.projector as MllamaProjector;
  const rgb = await projector.loadImage(red);
  expect(rgb.pixels().length).toBe(56 * 28 * 3);
  const ref = await preprocessReference();
  if (!ref) skip("no Python reference environment on this machine");
  const c = ref!.manifest.cases.w60_h45_rgba;
  const rgba = readPreprocessTensor(ref!, c.input) as Uint8Array;
  expect(rgba.some((_, i) => i % 4 === 3 && rgba[i] === 0), "the case has transparent pixels").toBe(true);
  const image = await projector.loadImage(encodePng(c.width, c.height, rgba));
  expect(Buffer.from(image.pixels()).equals(Buffer.from(rgba))).toBe(true);
  const out = preprocessMllamaImage({ width: image.width, height: image.height, data: image.pixels() }, {
    tileSize: c.tile_size, maxTiles: c.max_tiles, mean: ref!.manifest.mean, std: ref!.manifest.std,
  });
  const want = readPreprocessTensor(ref!, c.pixel_values) as Float32Array;
  expect(Buffer.from(out.pixels.buffer, out.pixels.byteOffset, out.pixels.byteLength).equals(Buffer.from(want.buffer, want.byteOffset, want.byteLength))).toBe(true);
});

describe("one image, shared", () => {
  let context: Context;
  beforeAll(async () => {
    context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1 });
  });
  afterAll(async () => {
    await context.dispose();
  });

  test("a fork sees its parent's image and generates what a fresh sequence given the image does", async () => {
    const parent = await withImage(context, red);
    expect(context.stats.imageEncodes).toBe(1);
    const fork = await parent.fork();
    const fresh = await withImage(context, red);
    const [a, b] = await context.generate([fork, fresh], { maxTokens: 10, ignoreEog: true, logprobs: true }).result();
    expect(a!.tokens).toEqual(b!.tokens);
    expect(a!.logprobs).toHaveLength(10);
    // Not bit-exact with an F16 cache: the fresh sequence's cells sit elsewhere, and the softmax path sums
    // over cells in SIMD lanes by position (llama.cpp's CPU flash attention walks cells in order instead).
    expect(Math.max(...a!.logprobs!.map((x, i) => Math.abs(x - b!.logprobs![i]!)))).toBeLessThan(1e-3);
    // the image matters: the same question about another image answers differently
    const other = await withImage(context, blue);
    const [c] = await context.generate([other], { maxTokens: 10, ignoreEog: true }).result();
    expect(c!.tokens).not.toEqual(a!.tokens);
    for (const s of [parent, fork, fresh, other]) await s.dispose();
  });

  test("sequences bound to two different images in one batch generate what each does alone", async () => {
    const together = [await withImage(context, red, "Describe it."), await withImage(context, blue, "Describe it.")];
    const batched = await context.generate(together, { maxTokens: 8, ignoreEog: true, logprobs: true }).result();
    for (const [i, image] of [red, blue].entries()) {
      const alone = await model.createContext({ contextSize: 512, sequences: 1, threads: 1 });
      const [solo] = await alone.generate([await withImage(alone, image, "Describe it.")], { maxTokens: 8, ignoreEog: true, logprobs: true }).result();
      expect(batched[i]!.tokens).toEqual(solo!.tokens);
      expect(solo!.logprobs).toHaveLength(8);
      expect(close(batched[i]!.logprobs!, solo!.logprobs!, 1e-3)).toBe(true);
      await alone.dispose();
    }
    for (const s of together) await s.dispose();
  });
});

test("the prefix cache reuses image + question: no second encode, the same continuation", async () => {
  const context = await model.createContext({ contextSize: 1024, sequences: 8, threads: 1, prefixCache: { sequences: 2 } });
  const projector = model.projector as MllamaProjector;
  const encodesBefore = projector.encodes;
  const first = await withImage(context, red);
  const second = await withImage(context, red);
  expect(context.stats.imageEncodes).toBe(1);
  expect(context.stats.cachedItems).toBeGreaterThan(0);
  expect(projector.encodes - encodesBefore).toBeLessThanOrEqual(1);
  const [a, b] = await context.generate([first, second], { maxTokens: 6, ignoreEog: true }).result();
  expect(a!.tokens).toEqual(b!.tokens);
  await context.dispose();
});

describe.each(["single", "stage-beam", "best-of-n", "sentence-beam", "retrace"] as StrategyName[])("reason() with an image: %s", (strategy) => {
  test.each(["generate", "logprob"] as const)("%s judge: four stages, the image encoded once, everything released", async (judge) => {
    const context = await model.createContext({ contextSize: 4096, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });
    const extra = strategy === "sentence-beam" ? { maxStageTokens: 32 } : {};
    const result = await model.reason({
      image: red,
      question: "What is shown?",
      strategy,
      judge,
      width: 2,
      seed: 4,
      forceStructure: "grammar",
      maxStageTokens: 8,
      maxJudgeTokens: 12,
      ...extra,
      context,
    });
    for (const stage of STAGES) expect(result.stages[stage].length, stage).toBeGreaterThan(0);
    expect(result.counts.imageEncodes).toBe(1);
    expect(context.stats.imageEncodes).toBe(1);
    expect(context.freeSequences).toBe(48 - context.prefixCache!.size);
    await context.dispose();
  }, 120_000);
});

test("stage-beam at widths 1, 2 and 4 encodes the image once each", async () => {
  for (const width of [1, 2, 4]) {
    const context = await model.createContext({ contextSize: 4096, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });
    const result = await model.reason({ image: blue, question: "Count the shapes.", width, seed: 1, forceStructure: "prefill", maxStageTokens: 6, maxJudgeTokens: 8, judge: "logprob", context });
    expect(result.counts.imageEncodes, `width ${width}`).toBe(1);
    await context.dispose();
  }
}, 120_000);

test("concurrent reason() calls with images share batches and all finish", async () => {
  const context = await model.createContext({ contextSize: 4096, sequences: 48, threads: 1, prefixCache: { sequences: 2 } });
  const runs = [red, blue, red].map((image, i) =>
    model.reason({ image, question: "What is it?", width: 2, seed: i, forceStructure: "grammar", maxStageTokens: 6, maxJudgeTokens: 8, judge: "logprob", context }),
  );
  const results = await Promise.all(runs);
  for (const r of results) expect(r.text).toContain("</CONCLUSION>");
  expect(context.stats.imageEncodes).toBeLessThanOrEqual(3);
  await context.dispose();
}, 120_000);

test("a context reports the bytes of its KV cache, cross-attention store and compute buffers", async () => {
  // Tiny shape: 3 self-attention blocks and 2 cross blocks, 2 KV heads of 16; an image's 20 rows pad to 256.
  for (const [kvType, bytes] of [["f16", 2], ["f32", 4]] as const) {
    const context = await model.createContext({ contextSize: 1024, sequences: 2, threads: 1, kvType, images: 3 });
    const memory = context.info.memory!;
    expect(memory.kvBytes).toBe(3 * 1024 * 2 * 16 * 2 * bytes);
    expect(memory.crossBytesPerImage).toBe(2 * 256 * 2 * 16 * 2 * bytes);
    expect(memory.crossBytes).toBe(3 * memory.crossBytesPerImage);
    expect(memory.computeBytes).toBeGreaterThan(0);
    await context.dispose();
  }
});

describe("errors", () => {
  test("a projector converted from another checkpoint is PROJECTOR_MISMATCH", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stagebeam-mllama-other-"));
    const other = writeTinyMllama({ dir, seed: 99, vocabPath: vocabPath("llama-bpe") });
    await expect(loadModel({ path: tinyMllama().model, projector: other.projector })).rejects.toMatchObject({ code: "PROJECTOR_MISMATCH" });
  });

  test("an image over the pixel limit is INVALID_IMAGE before it is decoded", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 2, threads: 1 });
    const encodes = (model.projector as MllamaProjector).encodes;
    for (const [w, h] of [[65535, 65535], [32769, 4], [12000, 12000]]) {
      await expect(withImage(context, pngClaiming(w!, h!)), `${w}x${h}`).rejects.toMatchObject({ code: "INVALID_IMAGE", message: expect.stringContaining("at most") });
    }
    expect((model.projector as MllamaProjector).encodes).toBe(encodes);
    expect(context.usedCells).toBe(0);
    await context.dispose();
  });

  test("two images in one sequence are refused before any work", async () => {
    const context = await model.createContext({ contextSize: 1024, sequences: 4, threads: 1 });
    const sequence = context.createSequence();
    const prompt = model.applyChatTemplate([{ role: "user", content: [{ type: "image" }, { type: "image" }, { type: "text", text: "Compare." }] }]);
    await expect(sequence.evaluate({ prompt, images: [red, blue] })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(context.usedCells).toBe(0);
    await context.dispose();
  });

  test("images without the projector, or in a context made before it was loaded, are typed errors", async () => {
    const textOnly = await loadModel({ path: tinyMllama().model });
    const context = await textOnly.createContext({ contextSize: 256, sequences: 2, threads: 1 });
    await expect(context.createSequenceFrom({ prompt: "<|image|>Hi", images: [red] })).rejects.toMatchObject({ code: "NO_PROJECTOR" });
    await textOnly.loadProjector(tinyMllama().projector);
    await expect(context.createSequenceFrom({ prompt: "<|image|>Hi", images: [red] })).rejects.toMatchObject({ code: "NO_PROJECTOR" });
    await textOnly.dispose();
  });
});
