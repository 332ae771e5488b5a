// The converter on the Python-made tiny checkpoint (test/fixtures/mllama/make_tiny_mllama.py, transformers
// 5.18): every Hugging Face tensor lands in a GGUF tensor of the right shape; self-attention Q/K
// un-permuted equal the checkpoint; rope_freqs agree with transformers' inv_freq to ~2 ulp (errata a2);
// the vocabulary is llama.cpp's Llama 3 BPE plus <|image|>. Skips (with a warning) where the Python
// reference cannot be made, except under CI.
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { readGgufMetadata, type GgufMetadata } from "../../lib/gguf/reader.js";
import { GgmlType } from "../../lib/gguf/types.js";
import { convertModel, hubTensorName } from "../../lib/mllama/convert.js";
import { PAIR_ID_KEY, textLayout, visionLayout } from "../../lib/mllama/gguf-layout.js";
import { readMllamaConfig } from "../../lib/mllama/hf-config.js";
import { llama3RopeFactors } from "../../lib/mllama/rope-freqs.js";
import { unpermuteHeadsForRope } from "../../lib/mllama/rope-permute.js";
import { SafetensorsCheckpoint } from "../../lib/mllama/safetensors.js";
import { llama32VisionSpecialTokens } from "../../lib/mllama/special-tokens.js";
import { TokenType } from "../../lib/mllama/tokenizer-json.js";
import { mllamaReference, readFloat32, type MllamaReference } from "../fixtures/mllama/reference.js";
import { fixturesDir, vocabPath } from "../fixtures/models.js";
import { tensorBytes } from "../fixtures/gguf-tensor.js";

const ref: MllamaReference | null = await mllamaReference();
const outDir = join(fixturesDir, "mllama-convert-reference");

const f32 = (bytes: Uint8Array) => new Float32Array(bytes.slice().buffer);

describe.skipIf(!ref)("the Python-made tiny checkpoint", () => {
  const r = ref!;
  let model: string;
  let projector: string;
  let text: GgufMetadata;
  let vision: GgufMetadata;
  let hf: SafetensorsCheckpoint;

  beforeAll(async () => {
    mkdirSync(outDir, { recursive: true });
    model = join(outDir, "tiny-mllama-F32.gguf");
    projector = join(outDir, "mmproj-tiny-mllama-F32.gguf");
    await convertModel({ input: r.hfDir, output: model, projectorOutput: projector, type: "f32" });
    text = readGgufMetadata(model);
    vision = readGgufMetadata(projector);
    hf = SafetensorsCheckpoint.open(r.hfDir);
    return () => hf.close();
  });

  test("every Hugging Face tensor maps to a GGUF tensor of the reversed shape", () => {
    const checksums = JSON.parse(readFileSync(join(r.refDir, "tensors.json"), "utf8")) as Record<string, { shape: number[]; sum: number; sum_sq: number }>;
    const names: string[] = r.manifest.checkpoint.tensor_names;
    const { hparams } = readMllamaConfig(r.hfDir);
    const layout = [...textLayout(hparams.text), ...visionLayout(hparams.vision, hparams.text.hiddenSize)];
    const written = new Map([...text.tensors, ...vision.tensors].map((t) => [t.name, t.dims]));
    const mapped = new Set<string>();
    for (const t of layout) {
      expect(written.get(t.name)).toEqual(t.dims);
      if (t.source === "rope_freqs") continue;
      mapped.add(t.source.hf);
      expect([t.source.hf, checksums[t.source.hf]?.shape]).toEqual([t.source.hf, [...t.dims].reverse()]);
    }
    expect([...mapped].sort()).toEqual(names.map(hubTensorName).sort());
    expect(written.size).toBe(names.length + 2); // + rope_freqs, + the position gate split in two
    // Our safetensors reader agrees with numpy on every tensor (sums in float64).
    for (const name of names) {
      const values = hf.read(name);
      let sum = 0;
      for (const v of values) sum += v;
      expect(Math.abs(sum - checksums[name]!.sum)).toBeLessThanOrEqual(1e-9 * Math.max(1, checksums[name]!.sum_sq));
    }
  });

  test("self-attention Q/K un-permuted equal the checkpoint; cross-attention Q/K and norms are untouched", () => {
    const L = "language_model.model.layers.";
    for (const i of [0, 2, 4]) {
      expect(unpermuteHeadsForRope(f32(tensorBytes(model, text, `blk.${i}.attn_q.weight`)), 16, 64)).toEqual(hf.read(`${L}${i}.self_attn.q_proj.weight`));
      expect(unpermuteHeadsForRope(f32(tensorBytes(model, text, `blk.${i}.attn_k.weight`)), 16, 64)).toEqual(hf.read(`${L}${i}.self_attn.k_proj.weight`));
    }
    for (const i of [1, 3]) {
      expect(f32(tensorBytes(model, text, `blk.${i}.cross_attn_q_proj.weight`))).toEqual(hf.read(`${L}${i}.cross_attn.q_proj.weight`));
      expect(f32(tensorBytes(model, text, `blk.${i}.cross_attn_k_proj.weight`))).toEqual(hf.read(`${L}${i}.cross_attn.k_proj.weight`));
      expect(f32(tensorBytes(model, text, `blk.${i}.cross_attn_q_norm.weight`))).toEqual(hf.read(`${L}${i}.cross_attn.q_norm.weight`));
      expect(f32(tensorBytes(model, text, `blk.${i}.cross_attn_attn_gate`))).toEqual(hf.read(`${L}${i}.cross_attn_attn_gate`));
    }
  });

  test("rope_freqs agree with transformers' inv_freq: inv_freq[i] ≈ base^(−2i/d) / rope_freqs[i] (~2 ulp, errata a2)", () => {
    const invFreq = readFloat32(r, r.manifest.rope.inv_freq);
    const freqs = f32(tensorBytes(model, text, "rope_freqs.weight"));
    const d = r.manifest.rope.head_dim as number;
    const base = r.manifest.rope.parameters.rope_theta as number;
    expect(freqs.length).toBe(invFreq.length);
    for (let i = 0; i < freqs.length; i++) {
      const ours = base ** (-(2 * i) / d) / freqs[i]!;
      expect(Math.abs(ours - invFreq[i]!) / invFreq[i]!).toBeLessThanOrEqual(2.5 * 2 ** -23);
    }
  });

  test("rope_freqs equal llama.cpp's generate_extra_tensors run with torch, bit for bit (tiny, 11B and other parameters)", () => {
    // conversion/llama.py LlamaModel.generate_extra_tensors, transcribed; run in the fixture's venv (torch 2.13).
    const script = `
import math, json, sys, torch
def factors(base, dim, factor, low, high, old):
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    low_wavelen, high_wavelen = old / low, old / high
    out = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_wavelen: out.append(1)
        elif wavelen > low_wavelen: out.append(factor)
        else:
            smooth = (old / wavelen - low) / (high - low)
            out.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(out, dtype=torch.float32).view(torch.int32).tolist()
print(json.dumps([factors(*c) for c in json.loads(sys.argv[1])]))
`;
    const cases: [number, number, number, number, number, number][] = [
      [500000, 16, 8, 1, 4, 64], // the fixture's
      [500000, 128, 8, 1, 4, 8192], // Llama 3.2 11B Vision's
      [10000, 64, 4, 1, 4, 2048],
      [500000, 128, 32, 1, 4, 8192],
    ];
    const theirs = JSON.parse(execFileSync(r.python, ["-c", script, JSON.stringify(cases)], { encoding: "utf8" })) as number[][];
    cases.forEach(([base, dim, factor, low, high, old], k) => {
      const ours = llama3RopeFactors(base, dim, { factor, lowFreqFactor: low, highFreqFactor: high, originalContextLength: old });
      expect([k, [...new Int32Array(ours.buffer)]]).toEqual([k, theirs[k]]);
    });
    expect(f32(tensorBytes(model, text, "rope_freqs.weight"))).toEqual(llama3RopeFactors(500000, 16, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 64 }));
  });

  test("the vocabulary is ggml-vocab-llama-bpe with Llama 3.2 Vision's special names, plus <|image|>", () => {
    const base = readGgufMetadata(vocabPath("llama-bpe")).kv;
    const tokens = text.kv.get("tokenizer.ggml.tokens")!.value as string[];
    const types = text.kv.get("tokenizer.ggml.token_type")!.value as number[];
    const baseTokens = base.get("tokenizer.ggml.tokens")!.value as string[];
    expect(tokens.length).toBe(r.manifest.tokenizer.size);
    expect(tokens.length).toBe(128257);
    expect(tokens.slice(0, 128000).every((t, i) => t === baseTokens[i])).toBe(true);
    expect(tokens.slice(128000, 128256)).toEqual(llama32VisionSpecialTokens());
    expect(tokens[r.manifest.tokenizer.image_token_id]).toBe("<|image|>");
    expect(types.slice(0, 128000).every((t) => t === TokenType.NORMAL)).toBe(true);
    expect(types.slice(128000).every((t) => t === TokenType.CONTROL)).toBe(true);
    const merges = text.kv.get("tokenizer.ggml.merges")!.value as string[];
    const baseMerges = base.get("tokenizer.ggml.merges")!.value as string[];
    expect(merges.length).toBe(baseMerges.length);
    expect(merges.every((m, i) => m === baseMerges[i])).toBe(true);
    expect([128000, 128009, 128004]).toEqual(["bos_token_id", "eos_token_id", "padding_token_id"].map((k) => text.kv.get(`tokenizer.ggml.${k}`)!.value));
    expect(text.kv.get("tokenizer.chat_template")!.value).toBe(JSON.parse(readFileSync(join(r.hfDir, "chat_template.json"), "utf8")).chat_template);
    expect(vision.kv.get(PAIR_ID_KEY)!.value).toBe(text.kv.get(PAIR_ID_KEY)!.value);
  });

  test("F16 and Q8_0 pairs convert too", async () => {
    for (const type of ["f16", "q8_0"] as const) {
      const m = join(outDir, `tiny-mllama-${type}.gguf`);
      await convertModel({ input: r.hfDir, output: m, projectorOutput: join(outDir, `mmproj-tiny-mllama-${type}.gguf`), type });
      const meta = readGgufMetadata(m);
      expect(meta.tensors.find((t) => t.name === "blk.0.attn_q.weight")!.type).toBe(type === "f16" ? GgmlType.F16 : GgmlType.Q8_0);
    }
  });
});
