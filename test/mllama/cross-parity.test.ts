// Cross-attention in the mllama decoder against transformers (patched to Meta's semantics), with the
// reference's own cross-attention states injected, so the text side is checked apart from the vision
// encoder: logits of a prompt with header tokens before <|image|>, incremental steps over the image store,
// rows before the image equal to a text-only run, and ablations that show every mask, gate and norm is
// needed for parity (remove one → the comparison fails).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Model } from "../../lib/index.js";
import { convertModel } from "../../lib/mllama/convert.js";
import { createMllamaContext } from "../../lib/mllama/engine.js";
import { nativeAddon, type NativeMllamaContext as NativeContext } from "../../lib/native.js";
import { mllamaReference, readFloat32, readInt32, type MllamaReference } from "../fixtures/mllama/reference.js";

const OUT_VOCAB = 128256;
const VOCAB = 128257;
const IMAGE = 128256;
// The tiny vision encoder: 4 tiles of 5 positions (4 patches + CLS); the case's image has 2 real tiles.
const ROWS_PER_IMAGE = 20;
const REAL_ROWS = 10;

let ref: MllamaReference | null = null;
let dir = "";
const models = new Map<"f32" | "f16", Model>();

beforeAll(async () => {
  ref = await mllamaReference();
  if (!ref) return;
  dir = mkdtempSync(join(tmpdir(), "stagebeam-mllama-cross-"));
  for (const type of ["f32", "f16"] as const) {
    const output = join(dir, `tiny-${type}.gguf`);
    await convertModel({ input: ref.hfDir, output, projectorOutput: join(dir, `mmproj-${type}.gguf`), type });
    models.set(type, await loadModel({ path: output, gpuLayers: 0 }));
  }
}, 15 * 60_000);

afterAll(async () => {
  for (const model of models.values()) await model.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function need(skip: (note?: string) => void): MllamaReference {
  if (!ref) skip("no Python reference environment on this machine");
  return ref!;
}

function context(type: "f32" | "f16" = "f32", ablate = 0, sequences = 4): Promise<NativeContext> {
  const model = models.get(type)!;
  return createMllamaContext(model.mllama!, model.native, {
    contextSize: 256,
    sequences,
    threads: 1,
    kvType: type,
    imageRows: ROWS_PER_IMAGE,
    images: 2,
    ablate,
  });
}

/** Decodes tokens of one sequence from `start` on, or of several at the given positions; all rows output. */
async function decode(ctx: NativeContext, tokens: ArrayLike<number>, start: number | number[], seqs: number | number[] = 0): Promise<Float32Array> {
  const n = tokens.length;
  const seqIds = Array.isArray(seqs) ? Int32Array.from(seqs) : new Int32Array(n).fill(seqs);
  return (await ctx.decode({
    tokens: Int32Array.from(tokens),
    positions: Array.isArray(start) ? Int32Array.from(start) : Int32Array.from({ length: n }, (_, i) => start + i),
    seqIds,
    outputs: new Uint8Array(n).fill(1),
    samplers: Array.from({ length: n }, () => null),
    topK: 0,
    returnLogits: true,
  })).logits!;
}

/** Largest |ours − reference| over `rows` rows, ours starting at row 0, the reference's at `from`. */
function maxDiff(ours: Float32Array, reference: Float32Array, rows: number, from = 0): number {
  let max = 0;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < OUT_VOCAB; j++) max = Math.max(max, Math.abs(ours[r * VOCAB + j]! - reference[(from + r) * OUT_VOCAB + j]!));
  }
  return max;
}

/** Largest |a − b| over entries where both are finite; Infinity where only one is (never a big diff in a report). */
function largestDifference(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i] === b[i]) continue;
    max = Math.max(max, Number.isFinite(a[i]!) && Number.isFinite(b[i]!) ? Math.abs(a[i]! - b[i]!) : Infinity);
  }
  return max;
}

interface ImageCase {
  ids: Int32Array;
  at: number;
  states: Float32Array;
  logits: Float32Array;
}

function imageCase(r: MllamaReference): ImageCase {
  const ids = readInt32(r, "image_ar2.input_ids");
  const states = readFloat32(r, "image_ar2.cross_attention_states");
  expect(states.length).toBe(ROWS_PER_IMAGE * 64);
  expect(r.manifest.tensors["image_ar2.aspect_ratio_mask"]).toBeDefined();
  return { ids, at: ids.indexOf(IMAGE), states, logits: readFloat32(r, "image_ar2.logits") };
}

/** Runs the image prompt: header rows, the image, the rows after; returns both sides' logits. */
async function runImagePrompt(ctx: NativeContext, c: ImageCase, realRows = REAL_ROWS) {
  const before = await decode(ctx, c.ids.subarray(0, c.at), 0);
  expect(await ctx.evalImage({ states: c.states, id: "ar2", realRows }, 0, c.at)).toBe(c.at + 1);
  const after = await decode(ctx, c.ids.subarray(c.at + 1), c.at + 1);
  return { before, after };
}

describe("an image prompt with header tokens before <|image|>", () => {
  test("F32: every row before and after the image within 1e-4", async ({ skip }) => {
    const c = imageCase(need(skip));
    expect(c.at).toBeGreaterThanOrEqual(3);
    const ctx = await context();
    const { before, after } = await runImagePrompt(ctx, c);
    expect(maxDiff(before, c.logits, c.at)).toBeLessThan(1e-4);
    expect(maxDiff(after, c.logits, c.ids.length - c.at - 1, c.at + 1)).toBeLessThan(1e-4);
    ctx.dispose();
  });

  test("F16 weights, F16 KV and image store: within 3e-2", async ({ skip }) => {
    const c = imageCase(need(skip));
    const ctx = await context("f16");
    const { after } = await runImagePrompt(ctx, c);
    expect(maxDiff(after, c.logits, c.ids.length - c.at - 1, c.at + 1)).toBeLessThan(3e-2);
    ctx.dispose();
  });

  test("F16 with flash attention in the decoder: within 3e-2", async ({ skip }) => {
    const c = imageCase(need(skip));
    const model = models.get("f16")!;
    const ctx = await createMllamaContext(model.mllama!, model.native, {
      contextSize: 256, sequences: 2, threads: 1, kvType: "f16", imageRows: ROWS_PER_IMAGE, images: 1, flashAttention: 1,
    });
    const { before, after } = await runImagePrompt(ctx, c);
    expect(maxDiff(before, c.logits, c.at)).toBeLessThan(3e-2);
    expect(maxDiff(after, c.logits, c.ids.length - c.at - 1, c.at + 1)).toBeLessThan(3e-2);
    ctx.dispose();
  });

  test("incremental: prefill through the image, then three single-token steps over the cached image", async ({ skip }) => {
    const r = need(skip);
    const c = imageCase(r);
    const steps = r.manifest.incremental.image_ar2;
    const prefill = readInt32(r, steps.prefill_ids);
    const fed = readInt32(r, steps.step_ids);
    const reference = readFloat32(r, steps.step_logits);
    const at = prefill.indexOf(IMAGE);
    const ctx = await context();
    await decode(ctx, prefill.subarray(0, at), 0);
    await ctx.evalImage({ states: c.states, id: "ar2", realRows: REAL_ROWS }, 0, at);
    await decode(ctx, prefill.subarray(at + 1), at + 1);
    for (let k = 0; k < fed.length; k++) {
      const row = await decode(ctx, fed.subarray(k, k + 1), prefill.length + k);
      expect(maxDiff(row, reference, 1, k), `step ${k}`).toBeLessThan(1e-4);
    }
    ctx.dispose();
  });

  test("rows before the image equal a text-only run of the same prefix, exactly", async ({ skip }) => {
    const c = imageCase(need(skip));
    const ctx = await context();
    const { before } = await runImagePrompt(ctx, c);
    const textOnly = await context();
    expect(largestDifference(await decode(textOnly, c.ids.subarray(0, c.at), 0), before)).toBe(0);
    ctx.dispose();
    textOnly.dispose();
  });
});

test("end to end from the reference's pixels: our vision encoder, then the decoder (F32)", async ({ skip }) => {
  const r = need(skip);
  const c = imageCase(r);
  const projector = join(dir, "mmproj-f32.gguf");
  const vision = await nativeAddon().MllamaVision.load(projector, { gpu: false, threads: 1 });
  const info = vision.info();
  expect(info.maxTiles * info.tokensPerTile).toBe(ROWS_PER_IMAGE);
  const mask = Array.from(readInt32(r, "image_ar2.aspect_ratio_mask"));
  const realTiles = mask.reduce((a, b) => a + b, 0);
  const states = await vision.encode(readFloat32(r, "image_ar2.pixel_values"), readInt32(r, "image_ar2.aspect_ratio_ids")[0]!, realTiles);
  vision.dispose();
  const ctx = await context();
  const { before, after } = await runImagePrompt(ctx, { ...c, states }, realTiles * info.tokensPerTile);
  expect(maxDiff(before, c.logits, c.at)).toBeLessThan(1e-4);
  expect(maxDiff(after, c.logits, c.ids.length - c.at - 1, c.at + 1)).toBeLessThan(1e-4);
  ctx.dispose();
});

describe("the test has teeth: without each part, parity fails", () => {
  const ABLATIONS = { gates: 2, "tile mask": 4, "q/k norms": 8 };
  test.for(Object.entries(ABLATIONS))("%s", async ([, ablate], { skip }) => {
    const c = imageCase(need(skip));
    const ctx = await context("f32", ablate);
    const { after } = await runImagePrompt(ctx, c);
    expect(maxDiff(after, c.logits, c.ids.length - c.at - 1, c.at + 1)).toBeGreaterThan(1e-3);
    ctx.dispose();
  });

  test("row mask: a sequence without an image, in the same ubatch as one with, is unaffected only with it", async ({ skip }) => {
    const c = imageCase(need(skip));
    const text = c.ids.subarray(0, c.at);
    const alone = await context();
    const solo = await decode(alone, [...text, 9906, 1917], 0);
    alone.dispose();
    for (const [ablate, same] of [[0, true], [1, false]] as const) {
      const ctx = await context("f32", ablate);
      await runImagePrompt(ctx, c); // sequence 0 holds the image
      // One ubatch: sequence 1's whole prompt and sequence 0's next token, which sees the image.
      const positions = [...Array.from(text, (_, i) => i), text.length, text.length + 1, c.ids.length];
      const rows = await decode(ctx, [...text, 9906, 1917, 13], positions, [...Array.from(text, () => 1), 1, 1, 0]);
      const ours = rows.subarray(0, (text.length + 2) * VOCAB);
      let max = 0;
      for (let i = 0; i < ours.length; i++) if (Number.isFinite(solo[i]!)) max = Math.max(max, Math.abs(ours[i]! - solo[i]!));
      if (same) expect(max).toBeLessThan(1e-5);
      else expect(max).toBeGreaterThan(1e-3);
      ctx.dispose();
    }
  });
});

describe("the image store", () => {
  test("a fork shares its parent's image: the same logits as a fresh sequence given the image", async ({ skip }) => {
    const c = imageCase(need(skip));
    const ctx = await context();
    await runImagePrompt(ctx, c);
    ctx.seqCopy(0, 1);
    const forked = await decode(ctx, [13, 578], c.ids.length, 1);
    // a fresh sequence, same image id: the slot is found again (no second slot is needed)
    await decode(ctx, c.ids.subarray(0, c.at), 0, 2);
    await ctx.evalImage({ states: c.states, id: "ar2", realRows: REAL_ROWS }, 2, c.at);
    await decode(ctx, c.ids.subarray(c.at + 1), c.at + 1, 2);
    const fresh = await decode(ctx, [13, 578], c.ids.length, 2);
    // Not bit-exact: the fresh sequence's cells sit elsewhere in the cache, and the CPU kernels sum over
    // cells in SIMD lanes by position.
    expect(largestDifference(forked, fresh)).toBeLessThan(1e-5);
    ctx.dispose();
  });

  test("slots run out with CONTEXT_FULL and come back when the last sequence bound to them goes", async ({ skip }) => {
    const c = imageCase(need(skip));
    const ctx = await context("f32", 0, 4);
    for (const [seq, id] of [[0, "a"], [1, "b"]] as const) {
      await decode(ctx, c.ids.subarray(0, c.at), 0, seq);
      await ctx.evalImage({ states: c.states, id, realRows: REAL_ROWS }, seq, c.at);
    }
    await decode(ctx, c.ids.subarray(0, c.at), 0, 2);
    await expect(ctx.evalImage({ states: c.states, id: "c", realRows: REAL_ROWS }, 2, c.at)).rejects.toMatchObject({ code: "CONTEXT_FULL" });
    expect(ctx.seqPosMax(2)).toBe(c.at - 1); // the failed call left nothing behind
    ctx.seqRemove(0);
    expect(await ctx.evalImage({ states: c.states, id: "c", realRows: REAL_ROWS }, 2, c.at)).toBe(c.at + 1);
    ctx.dispose();
  });

  test("wrong input is a typed error before any work", async ({ skip }) => {
    const c = imageCase(need(skip));
    const ctx = await context();
    await decode(ctx, c.ids.subarray(0, c.at), 0);
    const code = async (call: () => Promise<unknown>) => {
      try {
        await call();
        return "resolved";
      } catch (error) {
        return (error as { code?: string }).code;
      }
    };
    expect(await code(() => ctx.evalImage({ states: new Float32Array(10), id: "x", realRows: 1 }, 0, c.at))).toBe("PROJECTOR_MISMATCH");
    expect(await code(() => ctx.evalImage({ states: c.states, id: "x", realRows: 21 }, 0, c.at))).toBe("INVALID_ARGUMENT");
    expect(await code(() => ctx.evalImage({ states: c.states, id: "x", realRows: 10 }, 0, c.at + 1))).toBe("INVALID_ARGUMENT");
    await ctx.evalImage({ states: c.states, id: "x", realRows: 10 }, 0, c.at);
    expect(await code(() => ctx.evalImage({ states: c.states, id: "y", realRows: 10 }, 0, c.at + 1))).toBe("INVALID_ARGUMENT"); // one image per sequence
    const model = models.get("f32")!;
    const textOnly = await createMllamaContext(model.mllama!, model.native, { contextSize: 64, sequences: 1, threads: 1 });
    expect(await code(() => textOnly.evalImage({ states: c.states, id: "x", realRows: 10 }, 0, 0))).toBe("NO_PROJECTOR");
    textOnly.dispose();
    ctx.dispose();
  });
});
