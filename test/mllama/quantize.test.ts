// quantizeModel on mllama files (which llama.cpp's quantizer cannot open): the TypeScript re-quantizer
// reads the converter's F32/F16/Q8_0 files, encodes rows with ggml through the addon and writes through the
// streamed GGUF writer. On the tiny pair: tensor types follow the rule, the quantized text model loads and
// predicts like the F32 one, the projector still loads, an abort leaves nothing; on synthetic 256-wide
// files: the Q4_K/Q6_K/Q8_0 bytes are exactly encodeRows' output.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { AbortError, loadModel, quantizeModel, type Model } from "../../lib/index.js";
import { decodeF16 } from "../../lib/gguf/f16.js";
import { decodeQ8_0 } from "../../lib/gguf/q8_0.js";
import { readGgufMetadata, type GgufMetadata } from "../../lib/gguf/reader.js";
import { GgmlType, type GgufValue } from "../../lib/gguf/types.js";
import { gguf, writeGguf } from "../../lib/gguf/writer.js";
import { keepsF32, mllamaTensorType } from "../../lib/mllama/quantize.js";
import { nativeAddon } from "../../lib/native.js";
import { seededRandom } from "../../lib/seeded-random.js";
import { tinyMllama } from "../fixtures/models.js";
import { tensorBytes } from "../fixtures/gguf-tensor.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "stagebeam-mllama-quantize-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function typeOf(meta: GgufMetadata, name: string): number {
  return meta.tensors.find((t) => t.name === name)!.type;
}

/** Every key but general.file_type is the same value. */
function expectSameKeys(input: GgufMetadata, output: GgufMetadata) {
  expect([...output.kv.keys()]).toEqual([...input.kv.keys()]);
  for (const [key, value] of input.kv) if (key !== "general.file_type") expect(output.kv.get(key), key).toEqual(value);
}

const random = (n: number, seed: number) => {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n }, () => (r() * 2 - 1) * 0.5);
};

describe("K-quant bytes on a synthetic 256-wide mllama file", () => {
  // Block count 4: the first and last quarter are blocks 0 and 3.
  const tensors = [
    { name: "token_embd.weight", dims: [256, 5], type: GgmlType.F32 as const },
    { name: "output_norm.weight", dims: [256], type: GgmlType.F32 as const },
    { name: "blk.0.ffn_down.weight", dims: [256, 4], type: GgmlType.F32 as const },
    { name: "blk.1.ffn_down.weight", dims: [256, 4], type: GgmlType.F16 as const },
    { name: "blk.3.attn_v.weight", dims: [256, 3], type: GgmlType.Q8_0 as const },
    { name: "blk.2.attn_v.weight", dims: [256, 3], type: GgmlType.F32 as const },
    { name: "blk.2.ffn_up.weight", dims: [256, 2], type: GgmlType.F32 as const },
    { name: "blk.2.ffn_gate.weight", dims: [96, 2], type: GgmlType.F32 as const },
    { name: "blk.2.attn_q.weight", dims: [40, 2], type: GgmlType.F32 as const },
  ];
  const kv = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("mllama")],
    ["general.name", gguf.str("synthetic")],
    ["general.file_type", gguf.u32(0)],
    ["mllama.block_count", gguf.u32(4)],
    ["mllama.embedding_length", gguf.u32(256)],
    ["stagebeam.test.list", gguf.i32s([1, 2, 3])],
  ]);
  let source: string;
  beforeAll(() => {
    source = join(dir, "synthetic.gguf");
    writeGguf(
      source,
      kv,
      tensors.map((t, i) => ({ ...t, data: random(t.dims.reduce((a, b) => a * b, 1), 100 + i) })),
    );
  });

  /** The values the quantizer sees: the source tensor decoded. */
  function sourceValues(meta: GgufMetadata, name: string): Float32Array {
    const bytes = tensorBytes(source, meta, name);
    const type = typeOf(meta, name);
    if (type === GgmlType.F16) return decodeF16(bytes);
    if (type === GgmlType.Q8_0) return decodeQ8_0(bytes);
    return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  test.each([
    ["q4_k_m", 15, { "token_embd.weight": "q6_k", "blk.0.ffn_down.weight": "q6_k", "blk.1.ffn_down.weight": "q4_k", "blk.3.attn_v.weight": "q6_k", "blk.2.attn_v.weight": "q4_k", "blk.2.ffn_up.weight": "q4_k", "blk.2.ffn_gate.weight": "q8_0", "blk.2.attn_q.weight": "f16" }],
    ["q8_0", 7, { "token_embd.weight": "q8_0", "blk.0.ffn_down.weight": "q8_0", "blk.1.ffn_down.weight": "q8_0", "blk.3.attn_v.weight": "q8_0", "blk.2.ffn_gate.weight": "q8_0", "blk.2.attn_q.weight": "f16" }],
    ["f16", 1, { "token_embd.weight": "f16", "blk.3.attn_v.weight": "f16", "blk.2.attn_q.weight": "f16" }],
  ] as const)("%s: each tensor is encodeRows' bytes of the decoded source, in the rule's type", async (type, fileType, expected) => {
    const output = join(dir, `synthetic-${type}.gguf`);
    const progress: number[] = [];
    await quantizeModel({ input: source, output, type, onProgress: (p) => progress.push(p.bytesWritten / p.bytesTotal) });
    expect(progress.at(-1)).toBe(1);
    const input = readGgufMetadata(source);
    const out = readGgufMetadata(output);
    expectSameKeys(input, out);
    expect(out.kv.get("general.file_type")).toEqual(gguf.u32(fileType));
    const typeNumber = { q4_k: GgmlType.Q4_K, q6_k: GgmlType.Q6_K, q8_0: GgmlType.Q8_0, f16: GgmlType.F16 };
    for (const [name, encoding] of Object.entries(expected)) {
      expect(typeOf(out, name), name).toBe(typeNumber[encoding as keyof typeof typeNumber]);
      const rowLength = input.tensors.find((t) => t.name === name)!.dims[0]!;
      const want = nativeAddon().encodeRows(encoding, sourceValues(input, name), rowLength);
      expect(Buffer.from(tensorBytes(output, out, name)).equals(Buffer.from(want)), name).toBe(true);
    }
    expect(typeOf(out, "output_norm.weight")).toBe(GgmlType.F32);
    expect(Buffer.from(tensorBytes(output, out, "output_norm.weight")).equals(Buffer.from(tensorBytes(source, input, "output_norm.weight")))).toBe(true);
  });

  test("a source that is already K-quantized is refused; so is a type the re-quantizer lacks", async () => {
    const k = join(dir, "synthetic-q4k-source.gguf");
    const values = random(256 * 2, 7);
    writeGguf(k, kv, [{ name: "blk.0.ffn_up.weight", dims: [256, 2], type: GgmlType.Q4_K, encoded: () => [nativeAddon().encodeRows("q4_k", values, 256)] }]);
    expect(readGgufMetadata(k).tensors[0]!.type).toBe(GgmlType.Q4_K);
    await expect(quantizeModel({ input: k, output: join(dir, "x.gguf"), type: "q8_0" })).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
      message: expect.stringContaining("quantize from an f32/f16/q8_0 file"),
    });
    await expect(quantizeModel({ input: source, output: join(dir, "x.gguf"), type: "q4_0" })).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });
    expect(existsSync(join(dir, "x.gguf"))).toBe(false);
  });

  test("the writer checks encoded chunks against the tensor's dims", () => {
    const bad = join(dir, "bad-encoded.gguf");
    expect(() =>
      writeGguf(bad, kv, [{ name: "a.weight", dims: [256, 2], type: GgmlType.Q6_K, encoded: () => [new Uint8Array(210)] }]),
    ).toThrow(/need 420 bytes, got 210/);
    expect(() => writeGguf(bad, kv, [{ name: "a.weight", dims: [100, 2], type: GgmlType.Q4_K, encoded: () => [] }])).toThrow(/whole number of Q4_K blocks/);
    expect(existsSync(bad)).toBe(false);
  });
});

describe("the tiny pair", () => {
  let pair: { model: string; projector: string };
  let f32: Model;
  const DATE = { date_string: "26 Jul 2024" };

  beforeAll(async () => {
    pair = tinyMllama();
    f32 = await loadModel({ path: pair.model, gpuLayers: 0 });
  });
  afterAll(async () => {
    await f32.dispose();
  });

  /** The top 5 next tokens (best first) after a short chat prompt. */
  async function top5(model: Model): Promise<{ token: number; logprob: number }[]> {
    const context = await model.createContext({ contextSize: 256, sequences: 1, threads: 2 });
    try {
      const s = context.createSequence();
      await s.evaluate(model.tokenize(model.applyChatTemplate([{ role: "user", content: "Hello" }], { variables: DATE }), { parseSpecial: true }));
      for await (const event of context.generate([s], { maxTokens: 1, ignoreEog: true, topLogprobs: 5 })) return event.top!;
      throw new Error("no token");
    } finally {
      await context.dispose();
    }
  }

  test.each([
    ["q8_0", 7],
    ["q4_k_m", 15],
  ] as const)("a %s text model: types as the rule says, keys kept, loads and predicts like the F32 one", async (type, fileType) => {
    const output = join(dir, `tiny-mllama-${type}.gguf`);
    await quantizeModel({ input: pair.model, output, type });
    const input = readGgufMetadata(pair.model);
    const out = readGgufMetadata(output);
    expectSameKeys(input, out);
    expect(out.kv.get("general.file_type")).toEqual(gguf.u32(fileType));
    expect(out.tensors.map((t) => [t.name, t.dims])).toEqual(input.tensors.map((t) => [t.name, t.dims]));
    for (const t of out.tensors) {
      // Width 64 and 128 rows: no K-quant fits, every weight is Q8_0 (a multiple of 32) in both types.
      const want = keepsF32(t.name, t.dims) ? GgmlType.F32 : GgmlType.Q8_0;
      expect(t.type, t.name).toBe(want);
      expect(t.type, t.name).toBe(mllamaTensorType(t.name, t.dims, type, { projector: false, blockCount: 5 }));
    }
    for (const name of ["output_norm.weight", "rope_freqs.weight", "blk.1.cross_attn_attn_gate", "blk.1.cross_attn_q_norm.weight", "blk.0.attn_norm.weight"]) {
      expect(typeOf(out, name), name).toBe(GgmlType.F32);
    }
    for (const name of ["token_embd.weight", "output.weight", "blk.0.ffn_gate.weight", "blk.1.cross_attn_v_proj.weight", "blk.4.ffn_down.weight"]) {
      expect(typeOf(out, name), name).toBe(GgmlType.Q8_0);
    }

    const model = await loadModel({ path: output, gpuLayers: 0 });
    try {
      expect(model.engine).toBe("mllama");
      const [want, got] = [await top5(f32), await top5(model)];
      const overlap = got.filter((g) => want.some((w) => w.token === g.token)).length;
      const margin = want[0]!.logprob - want[1]!.logprob;
      if (margin > 0.1) expect(got[0]!.token, `f32 margin ${margin}`).toBe(want[0]!.token);
      expect(overlap, JSON.stringify({ want, got })).toBeGreaterThanOrEqual(3);
    } finally {
      await model.dispose();
    }
  });

  test.each([
    ["q8_0", GgmlType.Q8_0, 7],
    ["q4_k_m", GgmlType.F16, 1],
  ] as const)("a %s projector: vision weights %i, embeddings and gates F32; the vision encoder loads it", async (type, weightType, fileType) => {
    const output = join(dir, `mmproj-tiny-mllama-${type}.gguf`);
    await quantizeModel({ input: pair.projector, output, type });
    const input = readGgufMetadata(pair.projector);
    const out = readGgufMetadata(output);
    expectSameKeys(input, out);
    expect(out.kv.get("general.file_type")).toEqual(gguf.u32(fileType));
    for (const t of out.tensors) expect(t.type, t.name).toBe(keepsF32(t.name, t.dims) ? GgmlType.F32 : weightType);
    for (const name of ["v.patch_embd.weight", "v.position_embd.weight", "v.tile_position_embd.weight", "v.class_embd", "v.global.blk.0.attn_gate", "mm.0.bias"]) {
      expect(typeOf(out, name), name).toBe(GgmlType.F32);
    }
    expect(typeOf(out, "mm.0.weight")).toBe(weightType);
    expect(typeOf(out, "v.blk.0.attn_q.weight")).toBe(weightType);
    expect(typeOf(out, "v.global.blk.1.ffn_up.weight")).toBe(weightType);
    const vision = await nativeAddon().MllamaVision.load(output, { gpu: false, threads: 1 });
    try {
      expect(vision.info().projectionDim).toBe(64);
      expect(vision.info().pairId).toBe((input.kv.get("stagebeam.mllama.pair_id") as { value: string }).value);
    } finally {
      vision.dispose();
    }
  });

  test("an aborted quantization leaves no output file and no partial file", async () => {
    const sub = mkdtempSync(join(dir, "abort-"));
    const output = join(sub, "aborted.gguf");
    const controller = new AbortController();
    let calls = 0;
    const run = quantizeModel({
      input: pair.model,
      output,
      type: "q8_0",
      signal: controller.signal,
      onProgress: () => {
        if (++calls === 2) controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(readdirSync(sub)).toEqual([]);

    const before = new AbortController();
    before.abort();
    await expect(quantizeModel({ input: pair.model, output, type: "q8_0", signal: before.signal })).rejects.toBeInstanceOf(AbortError);
    expect(readdirSync(sub)).toEqual([]);
  });
});
