// The mllama engine against the reference: Hugging Face transformers (5.18, patched to Meta's semantics)
// on a tiny random-weight Llama-3.2-Vision checkpoint whose gates, norms and tables are all randomised
// (test/fixtures/mllama/make_tiny_mllama.py). The checkpoint goes through our converter, so this checks
// converter and engine together: logits at every position of text-only prompts, incremental decode over
// the cache, the tokenizer and the chat template.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { loadModel, type Model } from "../../lib/index.js";
import { convertModel } from "../../lib/mllama/convert.js";
import { createMllamaContext } from "../../lib/mllama/engine.js";
import type { NativeMllamaContext as NativeContext } from "../../lib/native.js";
import { mllamaReference, readFloat32, readInt32, type MllamaReference } from "../fixtures/mllama/reference.js";

const OUT_VOCAB = 128256; // output head rows; the engine's rows have one more column, <|image|>, at -inf
const VOCAB = 128257;

type WeightType = "f32" | "f16" | "q8_0";
let ref: MllamaReference | null = null;
let dir = "";
const models = new Map<WeightType, Model>();

beforeAll(async () => {
  ref = await mllamaReference();
  if (!ref) return;
  dir = mkdtempSync(join(tmpdir(), "stagebeam-mllama-parity-"));
  for (const type of ["f32", "f16", "q8_0"] as const) {
    const output = join(dir, `tiny-${type}.gguf`);
    await convertModel({ input: ref.hfDir, output, projectorOutput: join(dir, `mmproj-tiny-${type}.gguf`), type });
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

async function nativeContext(type: WeightType): Promise<NativeContext> {
  const model = models.get(type)!;
  return createMllamaContext(model.mllama!, model.native, { contextSize: 256, sequences: 4, threads: 1, kvType: type === "f32" ? "f32" : "f16" });
}

/** Decodes `tokens` into sequence `seq` from position `start` and returns every output's logit row. */
async function logitsOf(context: NativeContext, tokens: Int32Array, start: number, outputs: "all" | "last", seq = 0): Promise<Float32Array> {
  const n = tokens.length;
  const flags = new Uint8Array(n);
  if (outputs === "all") flags.fill(1);
  else flags[n - 1] = 1;
  const result = await context.decode({
    tokens,
    positions: Int32Array.from(tokens, (_, i) => start + i),
    seqIds: new Int32Array(n).fill(seq),
    outputs: flags,
    samplers: Array.from(flags.filter((f) => f === 1), () => null),
    topK: 0,
    returnLogits: true,
  });
  return result.logits!;
}

interface Difference {
  maxAbs: number;
  scale: number;
}

/** Largest |ours − reference| over rows of the reference's width, and the reference's largest |logit|. */
function compare(ours: Float32Array, reference: Float32Array, rows: number): Difference {
  let maxAbs = 0;
  let scale = 0;
  for (let r = 0; r < rows; r++) {
    expect(ours[r * VOCAB + OUT_VOCAB], "the <|image|> column is never a candidate").toBe(-Infinity);
    for (let j = 0; j < OUT_VOCAB; j++) {
      const want = reference[r * OUT_VOCAB + j]!;
      maxAbs = Math.max(maxAbs, Math.abs(ours[r * VOCAB + j]! - want));
      scale = Math.max(scale, Math.abs(want));
    }
  }
  return { maxAbs, scale };
}

/** The k largest entries' indices, largest first (one pass; a full sort of 128k entries per row is slow). */
function topIndices(row: Float32Array, offset: number, width: number, k: number): number[] {
  const top: number[] = [];
  for (let j = 0; j < width; j++) {
    const v = row[offset + j]!;
    if (top.length === k && v <= row[offset + top[k - 1]!]!) continue;
    let at = top.length === k ? k - 1 : top.length;
    while (at > 0 && row[offset + top[at - 1]!]! < v) at--;
    top.splice(at, 0, j);
    if (top.length > k) top.pop();
  }
  return top;
}

const TEXT_CASES = ["text_short", "text_chat", "text_odd"];

describe("text-only logits at every position", () => {
  test("F32 weights, F32 KV: within 1e-4", async ({ skip }) => {
    const r = need(skip);
    const context = await nativeContext("f32");
    try {
      for (const name of TEXT_CASES) {
        const ids = readInt32(r, `${name}.input_ids`);
        const d = compare(await logitsOf(context, ids, 0, "all"), readFloat32(r, `${name}.logits`), ids.length);
        expect(d.scale, name).toBeGreaterThan(1);
        expect(d.maxAbs, name).toBeLessThanOrEqual(1e-4 + 1e-4 * d.scale);
        context.seqRemove(0);
      }
    } finally {
      context.dispose();
    }
  });

  test("F16 weights, F16 KV: within 3e-2", async ({ skip }) => {
    const r = need(skip);
    const context = await nativeContext("f16");
    try {
      for (const name of TEXT_CASES) {
        const ids = readInt32(r, `${name}.input_ids`);
        const d = compare(await logitsOf(context, ids, 0, "all"), readFloat32(r, `${name}.logits`), ids.length);
        expect(d.maxAbs, name).toBeLessThanOrEqual(3e-2);
        context.seqRemove(0);
      }
    } finally {
      context.dispose();
    }
  });

  test("Q8_0: the same argmax where the reference's top-1 margin exceeds 0.05, top-5 overlap of at least 4", async ({ skip }) => {
    const r = need(skip);
    const context = await nativeContext("q8_0");
    try {
      let decided = 0;
      for (const name of TEXT_CASES) {
        const ids = readInt32(r, `${name}.input_ids`);
        const ours = await logitsOf(context, ids, 0, "all");
        const reference = readFloat32(r, `${name}.logits`);
        for (let t = 0; t < ids.length; t++) {
          const want = topIndices(reference, t * OUT_VOCAB, OUT_VOCAB, 5);
          const got = topIndices(ours, t * VOCAB, OUT_VOCAB, 5);
          expect(got.filter((token) => want.includes(token)).length, `${name} row ${t}`).toBeGreaterThanOrEqual(4);
          const margin = reference[t * OUT_VOCAB + want[0]!]! - reference[t * OUT_VOCAB + want[1]!]!;
          if (margin > 0.05) {
            expect(got[0], `${name} row ${t}`).toBe(want[0]);
            decided++;
          }
        }
        context.seqRemove(0);
      }
      expect(decided, "rows with a clear winner").toBeGreaterThan(20);
    } finally {
      context.dispose();
    }
  });
});

test("incremental decode over the cache: prefill, then three single-token steps (F32)", async ({ skip }) => {
  const r = need(skip);
  const steps = r.manifest.incremental.text_chat;
  const prefill = readInt32(r, steps.prefill_ids);
  const fed = readInt32(r, steps.step_ids);
  const reference = readFloat32(r, steps.step_logits);
  const context = await nativeContext("f32");
  try {
    await logitsOf(context, prefill, 0, "last");
    for (let k = 0; k < fed.length; k++) {
      const row = await logitsOf(context, fed.subarray(k, k + 1), prefill.length + k, "last");
      const d = compare(row, reference.subarray(k * OUT_VOCAB, (k + 1) * OUT_VOCAB), 1);
      expect(d.maxAbs, `step ${k}`).toBeLessThanOrEqual(1e-4 + 1e-4 * d.scale);
    }
  } finally {
    context.dispose();
  }
});

test("greedy generation through the public API reproduces the reference's steps", async ({ skip }) => {
  const r = need(skip);
  const steps = r.manifest.incremental.text_chat;
  const prefill = Array.from(readInt32(r, steps.prefill_ids));
  const fed = Array.from(readInt32(r, steps.step_ids));
  const reference = readFloat32(r, steps.step_logits);
  // The reference fed each step the argmax of the step before (the first: of the prompt's last row).
  for (let k = 1; k < fed.length; k++) expect(topIndices(reference, (k - 1) * OUT_VOCAB, OUT_VOCAB, 1)[0]).toBe(fed[k]);

  const model = models.get("f32")!;
  const context = await model.createContext({ contextSize: 256, sequences: 2, threads: 1, kvType: "f32" });
  try {
    const sequence = context.createSequence({ sampling: { temperature: 0 } });
    await sequence.evaluate(prefill);
    const [result] = await context.generate([sequence], { maxTokens: fed.length, ignoreEog: true, topLogprobs: 3 }).result();
    expect(result!.tokens).toEqual(fed);
    // Logprobs of steps 1 and 2 against the reference's rows (log-softmax in float64).
    for (let k = 1; k < fed.length; k++) {
      const row = reference.subarray((k - 1) * OUT_VOCAB, k * OUT_VOCAB);
      let max = -Infinity;
      for (const v of row) max = Math.max(max, v);
      let sum = 0;
      for (const v of row) sum += Math.exp(v - max);
      const want = row[fed[k]!]! - max - Math.log(sum);
      expect(Math.abs(result!.logprobs![k]! - want), `step ${k}`).toBeLessThan(1e-4);
    }
  } finally {
    await context.dispose();
  }
});

test("tokenizer: llama.cpp's tokenization of the converted vocabulary equals the reference tokenizer's", ({ skip }) => {
  const r = need(skip);
  const model = models.get("f32")!;
  expect(model.vocabSize).toBe(r.manifest.tokenizer.size);
  const cases: { text: string; ids: number[]; ids_with_special: number[] }[] = r.manifest.tokenizer.cases;
  expect(cases.length).toBeGreaterThanOrEqual(20);
  for (const c of cases) {
    const label = JSON.stringify(c.text);
    expect(Array.from(model.native.tokenize(c.text, false, true)), label).toEqual(c.ids);
    expect(Array.from(model.native.tokenize(c.text, true, true)), label).toEqual(c.ids_with_special);
    // Model.tokenize adds no second BOS to text that already starts with one (a rendered chat template);
    // transformers does (errata b6), which is never what a prompt wants.
    const bosFirst = c.ids[0] === 128000;
    expect(model.tokenize(c.text, { addSpecial: true, parseSpecial: true }), label).toEqual(bosFirst ? c.ids : c.ids_with_special);
  }
  expect(cases.some((c) => c.ids[0] === 128000), "a case starts with BOS").toBe(true);
});

test("chat template: structured content renders as transformers renders it (text-only with a date, image first)", ({ skip }) => {
  const r = need(skip);
  const model = models.get("f32")!;
  const { text_only: textOnly, image } = r.manifest.chat;
  expect(model.applyChatTemplate(textOnly.messages, { variables: { date_string: textOnly.date_string } })).toBe(textOnly.rendered);
  expect(model.applyChatTemplate(image.messages)).toBe(image.rendered);
});
