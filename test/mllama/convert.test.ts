// convertModel on a small synthetic mllama checkpoint written in TypeScript: names, shapes, types, values
// (permutation inverted back equals the input; gates; rope_freqs), keys and vocabulary of both files, and
// the failures — each typed, each leaving no output file.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { AbortError, InvalidCheckpointError } from "../../lib/errors.js";
import { decodeF16, encodeF16 } from "../../lib/gguf/f16.js";
import { decodeQ8_0, encodeQ8_0 } from "../../lib/gguf/q8_0.js";
import { readGgufMetadata, type GgufMetadata } from "../../lib/gguf/reader.js";
import { GgmlType, GgufType } from "../../lib/gguf/types.js";
import { convertModel, hubTensorName, type ConvertModelOptions } from "../../lib/mllama/convert.js";
import { PAIR_ID_KEY } from "../../lib/mllama/gguf-layout.js";
import { llama3RopeFactors } from "../../lib/mllama/rope-freqs.js";
import { unpermuteHeadsForRope } from "../../lib/mllama/rope-permute.js";
import { TokenType } from "../../lib/mllama/tokenizer-json.js";
import { fixturesDir, llamaCppDir } from "../fixtures/models.js";
import { tensorBytes } from "../fixtures/gguf-tensor.js";
import { SYNTH, writeSafetensors, writeSyntheticMllama, type SyntheticCheckpoint } from "./synthetic-checkpoint.js";

const root = join(fixturesDir, "mllama-convert");
const out = (name: string) => join(root, "out", name);

function f32(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.slice().buffer);
}

const value = (meta: GgufMetadata, key: string) => meta.kv.get(key)?.value;

describe("a converted synthetic checkpoint", () => {
  let ckpt: SyntheticCheckpoint;
  const files: Record<string, { model: string; projector: string; text: GgufMetadata; vision: GgufMetadata }> = {};
  const progress: { bytesWritten: number; bytesTotal: number }[] = [];

  beforeAll(async () => {
    ckpt = writeSyntheticMllama(join(root, "hf"));
    mkdirSync(join(root, "out"), { recursive: true });
    for (const type of ["f32", "f16", "q8_0"] as const) {
      const model = out(`synth-${type}.gguf`);
      const projector = out(`mmproj-synth-${type}.gguf`);
      await convertModel({
        input: ckpt.dir,
        output: model,
        projectorOutput: projector,
        type,
        visionType: type,
        onProgress: type === "q8_0" ? (p) => progress.push(p) : undefined,
      });
      files[type] = { model, projector, text: readGgufMetadata(model), vision: readGgufMetadata(projector) };
    }
  });

  test("every Hugging Face tensor maps to a GGUF tensor of the reversed shape", () => {
    const { text, vision } = files.f32!;
    const all = [...text.tensors, ...vision.tensors];
    expect(all.length).toBe(ckpt.values.size + 1 /* rope_freqs */ + 1 /* the position gate is split in two */);
    expect(text.tensors.find((t) => t.name === "token_embd.weight")!.dims).toEqual([64, 264]);
    expect(text.tensors.find((t) => t.name === "output.weight")!.dims).toEqual([64, 256]);
    expect(text.tensors.find((t) => t.name === "rope_freqs.weight")!.dims).toEqual([8]);
    expect(vision.tensors.find((t) => t.name === "v.patch_embd.weight")!.dims).toEqual([14, 14, 3, 32]);
    expect(vision.tensors.find((t) => t.name === "v.tile_position_embd.weight")!.dims).toEqual([640, 9]);
    expect(vision.tensors.find((t) => t.name === "mm.0.weight")!.dims).toEqual([96, 64]);
    const names = text.tensors.map((t) => t.name);
    expect(names).toContain("blk.1.cross_attn_q_proj.weight");
    expect(names).toContain("blk.1.cross_attn_k_norm.weight");
    expect(names).toContain("blk.1.cross_attn_attn_gate");
    expect(names).toContain("blk.1.cross_attn_mlp_gate");
    expect(names).not.toContain("blk.1.attn_q.weight");
    expect(names).toContain("blk.0.attn_q.weight");
    expect(vision.tensors.map((t) => t.name)).toEqual(expect.arrayContaining(["v.global.blk.0.attn_gate", "v.global.blk.0.ffn_gate", "v.blk.1.ffn_down.bias"]));
  });

  test("types: 2-D weights in the chosen type, Q8_0 only for rows of a multiple of 32, the rest F32", () => {
    const type = (m: GgufMetadata, name: string) => m.tensors.find((t) => t.name === name)!.type;
    for (const [kind, weight] of [["f32", GgmlType.F32], ["f16", GgmlType.F16], ["q8_0", GgmlType.Q8_0]] as const) {
      const { text, vision } = files[kind]!;
      expect(type(text, "blk.0.attn_q.weight")).toBe(weight);
      expect(type(text, "token_embd.weight")).toBe(weight);
      expect(type(text, "blk.0.ffn_down.weight")).toBe(weight); // rows of 96
      expect(type(vision, "v.blk.0.ffn_up.weight")).toBe(weight);
      expect(type(vision, "v.blk.0.ffn_down.weight")).toBe(kind === "q8_0" ? GgmlType.F16 : weight); // rows of 48
      for (const name of ["output_norm.weight", "rope_freqs.weight", "blk.1.cross_attn_q_norm.weight", "blk.1.cross_attn_attn_gate"]) expect(type(text, name)).toBe(GgmlType.F32);
      for (const name of ["v.patch_embd.weight", "v.class_embd", "v.position_embd.weight", "v.tile_position_embd.weight", "v.pre_tile_position_embd.weight", "v.position_embd.gate", "mm.0.bias", "v.blk.0.ffn_up.bias"]) {
        expect(type(vision, name)).toBe(GgmlType.F32);
      }
      expect(value(text, "general.file_type")).toBe({ f32: 0, f16: 1, q8_0: 7 }[kind]);
    }
  });

  test("values: copies are exact, self-attention Q/K permuted back equal the input, cross and vision Q/K untouched", () => {
    const { model, projector, text, vision } = files.f32!;
    const get = (name: string) => f32(tensorBytes(model, text, name));
    const L = "language_model.model.layers.";
    expect(get("token_embd.weight")).toEqual(ckpt.values.get("language_model.model.embed_tokens.weight"));
    expect(get("blk.0.attn_v.weight")).toEqual(ckpt.values.get(`${L}0.self_attn.v_proj.weight`));
    const q = get("blk.0.attn_q.weight");
    expect(q).not.toEqual(ckpt.values.get(`${L}0.self_attn.q_proj.weight`));
    expect(unpermuteHeadsForRope(q, 16, 64)).toEqual(ckpt.values.get(`${L}0.self_attn.q_proj.weight`));
    expect(unpermuteHeadsForRope(get("blk.2.attn_k.weight"), 16, 64)).toEqual(ckpt.values.get(`${L}2.self_attn.k_proj.weight`));
    expect(get("blk.1.cross_attn_q_proj.weight")).toEqual(ckpt.values.get(`${L}1.cross_attn.q_proj.weight`));
    expect(get("blk.1.cross_attn_k_norm.weight")).toEqual(ckpt.values.get(`${L}1.cross_attn.k_norm.weight`));
    const getV = (name: string) => f32(tensorBytes(projector, vision, name));
    expect(getV("v.blk.0.attn_q.weight")).toEqual(ckpt.values.get("vision_model.transformer.layers.0.self_attn.q_proj.weight"));
    expect(getV("v.tile_position_embd.weight")).toEqual(ckpt.values.get("vision_model.gated_positional_embedding.tile_embedding.weight"));
    expect(getV("mm.0.weight")).toEqual(ckpt.values.get("multi_modal_projector.weight"));
  });

  test("gates: text cross gates raw; vision gates tanh; the position gate split into 1 − tanh and tanh", () => {
    const { model, projector, text, vision } = files.f32!;
    const one = (path: string, meta: GgufMetadata, name: string) => f32(tensorBytes(path, meta, name))[0]!;
    const hf = (name: string) => ckpt.values.get(name)![0]!;
    expect(one(model, text, "blk.1.cross_attn_attn_gate")).toBe(hf("language_model.model.layers.1.cross_attn_attn_gate"));
    expect(one(model, text, "blk.1.cross_attn_mlp_gate")).toBe(hf("language_model.model.layers.1.cross_attn_mlp_gate"));
    const g = hf("vision_model.gated_positional_embedding.gate");
    expect(one(projector, vision, "v.tile_position_embd.gate")).toBe(Math.fround(Math.tanh(g)));
    expect(one(projector, vision, "v.position_embd.gate")).toBe(Math.fround(1 - Math.fround(Math.tanh(g))));
    expect(one(projector, vision, "v.pre_tile_position_embd.gate")).toBe(Math.fround(Math.tanh(hf("vision_model.pre_tile_positional_embedding.gate"))));
    expect(one(projector, vision, "v.global.blk.0.ffn_gate")).toBe(Math.fround(Math.tanh(hf("vision_model.global_transformer.layers.0.gate_ffn"))));
  });

  test("rope_freqs: the port of generate_extra_tensors, and the llama3 formula to float rounding", () => {
    const { model, text } = files.f32!;
    const freqs = f32(tensorBytes(model, text, "rope_freqs.weight"));
    const r = SYNTH.rope;
    expect(freqs).toEqual(llama3RopeFactors(r.rope_theta, 16, { factor: r.factor, lowFreqFactor: r.low_freq_factor, highFreqFactor: r.high_freq_factor, originalContextLength: r.original_max_position_embeddings }));
    // The same in float64: 1 above the high-frequency wavelength, `factor` below the low one, smoothed between.
    for (let i = 0; i < 8; i++) {
      const wavelen = (2 * Math.PI) / 500000 ** (-(2 * i) / 16);
      const expected = wavelen < 64 / 4 ? 1 : wavelen > 64 ? 8 : 1 / ((1 - (64 / wavelen - 1) / 3) / 8 + (64 / wavelen - 1) / 3);
      expect(freqs[i]).toBeCloseTo(expected, 5);
    }
    expect(new Set(freqs).size).toBeGreaterThan(2); // the tiny original context makes all three regimes occur
  });

  test("F16 and Q8_0 tensors hold the encoders' bytes of the same values", () => {
    const L = "language_model.model.layers.";
    const f16 = files.f16!;
    expect(tensorBytes(f16.model, f16.text, "blk.0.ffn_up.weight")).toEqual(encodeF16(ckpt.values.get(`${L}0.mlp.up_proj.weight`)!));
    const q8 = files.q8_0!;
    expect(tensorBytes(q8.model, q8.text, "output.weight")).toEqual(encodeQ8_0(ckpt.values.get("language_model.lm_head.weight")!));
    const qf32 = f32(tensorBytes(files.f32!.model, files.f32!.text, "blk.2.attn_q.weight"));
    expect(tensorBytes(q8.model, q8.text, "blk.2.attn_q.weight")).toEqual(encodeQ8_0(qf32));
    expect(decodeF16(tensorBytes(q8.projector, q8.vision, "v.blk.0.ffn_down.weight"))).toEqual(
      decodeF16(encodeF16(ckpt.values.get("vision_model.transformer.layers.0.mlp.fc2.weight")!)),
    );
  });

  test("text keys (plan §4.2), vocabulary and chat template", () => {
    const { text } = files.f32!;
    expect(value(text, "general.architecture")).toBe("mllama");
    expect(value(text, "general.name")).toBe("hf");
    const keys: Record<string, unknown> = {
      "mllama.context_length": 2048,
      "mllama.embedding_length": 64,
      "mllama.block_count": 3,
      "mllama.feed_forward_length": 96,
      "mllama.attention.head_count": 4,
      "mllama.attention.head_count_kv": 2,
      "mllama.rope.freq_base": 500000,
      "mllama.rope.dimension_count": 16,
      "mllama.vocab_size": 256,
      "mllama.image_token_index": 256,
    };
    for (const [key, v] of Object.entries(keys)) expect([key, value(text, key)]).toEqual([key, v]);
    expect(value(text, "mllama.attention.layer_norm_rms_epsilon")).toBeCloseTo(1e-5, 10);
    expect(text.kv.get("mllama.attention.cross_attention_layers")).toEqual({ type: GgufType.ARRAY, itemType: GgufType.INT32, value: [1] });
    const tokens = value(text, "tokenizer.ggml.tokens") as string[];
    const types = value(text, "tokenizer.ggml.token_type") as number[];
    expect(tokens).toHaveLength(257);
    expect(tokens.slice(0, 3)).toEqual(["a", "b", "c"]);
    expect([tokens[239], types[239]]).toEqual(["<think>", TokenType.USER_DEFINED]);
    expect([tokens[240], types[240]]).toEqual(["<|begin_of_text|>", TokenType.CONTROL]);
    expect([tokens[250], types[250]]).toEqual(["[PAD250]", TokenType.UNUSED]);
    expect([tokens[256], types[256]]).toEqual(["<|image|>", TokenType.CONTROL]);
    expect(types[100]).toBe(TokenType.NORMAL);
    expect(value(text, "tokenizer.ggml.merges")).toEqual(["a b", "Ġt30 Ġt31", "c d", "e f"]);
    expect(value(text, "tokenizer.ggml.model")).toBe("gpt2");
    expect(value(text, "tokenizer.ggml.pre")).toBe("llama-bpe");
    expect([value(text, "tokenizer.ggml.bos_token_id"), value(text, "tokenizer.ggml.eos_token_id"), value(text, "tokenizer.ggml.padding_token_id")]).toEqual([240, 244, 255]);
    expect(value(text, "tokenizer.ggml.add_bos_token")).toBe(true);
    expect(value(text, "tokenizer.chat_template")).toBe(SYNTH.chatTemplate); // chat_template.json before tokenizer_config.json
  });

  test("projector keys (plan §4.3) and the pair id shared by both files", () => {
    const { text, vision } = files.f32!;
    const keys: Record<string, unknown> = {
      "general.architecture": "mllama",
      "general.type": "projector",
      "mllama.vision.block_count": 2,
      "mllama.vision.global.block_count": 1,
      "mllama.vision.embedding_length": 32,
      "mllama.vision.feed_forward_length": 48,
      "mllama.vision.attention.head_count": 2,
      "mllama.vision.image_size": 28,
      "mllama.vision.patch_size": 14,
      "mllama.vision.max_num_tiles": 4,
      "mllama.vision.num_channels": 3,
      "mllama.vision.projection_dim": 64,
    };
    for (const [key, v] of Object.entries(keys)) expect([key, value(vision, key)]).toEqual([key, v]);
    expect(value(vision, "mllama.vision.intermediate_layers_indices")).toEqual([0, 1]);
    expect(value(vision, "mllama.vision.supported_aspect_ratios")).toEqual([1, 1, 1, 2, 1, 3, 1, 4, 2, 1, 2, 2, 3, 1, 4, 1]);
    expect((value(vision, "mllama.vision.image_mean") as number[]).map((x) => Math.round(x * 1e6))).toEqual([481455, 457828, 408211]);
    expect((value(vision, "mllama.vision.image_std") as number[]).length).toBe(3);
    expect(value(vision, "mllama.vision.attention.layer_norm_epsilon")).toBeCloseTo(1e-5, 10);
    expect(value(text, PAIR_ID_KEY)).toMatch(/^[0-9a-f]{32}$/);
    expect(value(vision, PAIR_ID_KEY)).toBe(value(text, PAIR_ID_KEY));
    expect(value(files.q8_0!.vision, PAIR_ID_KEY)).toBe(value(text, PAIR_ID_KEY)); // same checkpoint, any type
  });

  test("progress counts the bytes of both files up to their total, and no temporary file is left", () => {
    const { model, projector } = files.q8_0!;
    const total = readFileSync(model).length + readFileSync(projector).length;
    expect(progress.at(-1)).toEqual({ bytesWritten: total, bytesTotal: total });
    expect(progress.every((p, i) => i === 0 || p.bytesWritten >= progress[i - 1]!.bytesWritten)).toBe(true);
    expect(readdirSync(join(root, "out")).filter((f) => f.includes("partial"))).toEqual([]);
  });

  test.skipIf(spawnSync("python3", ["-c", "import numpy"]).status !== 0)("llama.cpp's gguf-py reads the Q8_0 pair: types, shapes and dequantized values agree", () => {
    const script = `
import sys, json
sys.path.insert(0, sys.argv[1])
from gguf import GGUFReader
from gguf.quants import dequantize
out = {}
for path in sys.argv[2:]:
    for t in GGUFReader(path).tensors:
        v = dequantize(t.data, t.tensor_type).flatten()
        out[t.name] = [t.tensor_type.name, [int(d) for d in t.shape], float(v[0]), float(v[-1])]
print(json.dumps(out))
`;
    const { model, projector, text, vision } = files.q8_0!;
    const r = spawnSync("python3", ["-c", script, join(llamaCppDir, "gguf-py"), model, projector], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    const theirs = JSON.parse(r.stdout) as Record<string, [string, number[], number, number]>;
    expect(Object.keys(theirs).length).toBe(text.tensors.length + vision.tensors.length);
    for (const [path, meta] of [[model, text], [projector, vision]] as const) {
      for (const t of meta.tensors) {
        const bytes = tensorBytes(path, meta, t.name);
        const ours = t.type === GgmlType.Q8_0 ? decodeQ8_0(bytes) : t.type === GgmlType.F16 ? decodeF16(bytes) : f32(bytes);
        expect([t.name, ...theirs[t.name]!]).toEqual([t.name, GgmlType[t.type], t.dims, ours[0], ours.at(-1)]);
      }
    }
  });

  test("a transformers-5 layout (model.language_model.*, one file) and a v4 config (rope_scaling) give the same files", async () => {
    const v5 = writeSyntheticMllama(join(root, "hf-v5"), { names: "v5", configStyle: "v4", shards: 1 });
    expect(hubTensorName("model.language_model.layers.0.mlp.up_proj.weight")).toBe("language_model.model.layers.0.mlp.up_proj.weight");
    const model = out("v5.gguf");
    const projector = out("mmproj-v5.gguf");
    await convertModel({ input: v5.dir, output: model, projectorOutput: projector, type: "f32", name: "hf" });
    const a = readGgufMetadata(model);
    const b = files.f32!.text;
    expect(a.tensors).toEqual(b.tensors);
    expect(readFileSync(model).subarray(a.dataOffset).equals(readFileSync(files.f32!.model).subarray(b.dataOffset))).toBe(true);
  });
});

describe("failures are typed and leave no output file", () => {
  const base = join(root, "broken");
  let caseNo = 0;

  /** A fresh synthetic checkpoint, damaged by `damage`; converts it and returns the error. */
  async function convertBroken(damage: (dir: string) => void, extra: Partial<ConvertModelOptions> = {}) {
    const dir = join(base, `case-${caseNo++}`);
    writeSyntheticMllama(dir);
    damage(dir);
    const output = join(dir, "out", "model.gguf");
    const projectorOutput = join(dir, "out", "mmproj-model.gguf");
    mkdirSync(join(dir, "out"), { recursive: true });
    const error = await convertModel({ input: dir, output, projectorOutput, type: "q8_0", ...extra }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(readdirSync(join(dir, "out"))).toEqual([]);
    return error as Error & { code: string };
  }
  const shard = (dir: string, n: number) => join(dir, `model-0000${n}-of-00003.safetensors`);

  test("a missing shard", async () => {
    const e = await convertBroken((dir) => rmSync(shard(dir, 2)));
    expect(e).toBeInstanceOf(InvalidCheckpointError);
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/shard model-00002-of-00003\.safetensors .* is missing/);
  });

  test("a truncated shard", async () => {
    const e = await convertBroken((dir) => writeFileSync(shard(dir, 3), readFileSync(shard(dir, 3)).subarray(0, 5000)));
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/model-00003-of-00003\.safetensors.*truncated/);
  });

  test("a header that lies about its offsets", async () => {
    const e = await convertBroken((dir) => {
      const file = shard(dir, 1);
      const bytes = readFileSync(file);
      const length = Number(bytes.readBigUInt64LE(0));
      const header = JSON.parse(bytes.subarray(8, 8 + length).toString()) as Record<string, { data_offsets?: number[] }>;
      const [first, second] = Object.keys(header).filter((k) => k !== "__metadata__");
      header[second!]!.data_offsets = header[first!]!.data_offsets!.map((o) => o + 4); // starts inside the first
      let json = JSON.stringify(header);
      while ((8 + json.length) % 8 !== 0) json += " ";
      const newLength = Buffer.alloc(8);
      newLength.writeBigUInt64LE(BigInt(json.length));
      writeFileSync(file, Buffer.concat([newLength, Buffer.from(json), bytes.subarray(8 + length)]));
    });
    expect(e.message).toMatch(/model-00001-of-00003\.safetensors: tensor .*(lies about its offsets|overlap)/);
  });

  test("a tensor whose shape disagrees with config.json", async () => {
    const e = await convertBroken((dir) => {
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      config.text_config.intermediate_size = 128;
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    });
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/mlp\.(gate|up|down)_proj\.weight .* has shape \[.*\] but config\.json implies/);
  });

  test("an unknown model_type is UNSUPPORTED_ARCHITECTURE", async () => {
    const e = await convertBroken((dir) => {
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      config.model_type = "llava";
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    });
    expect(e.code).toBe("UNSUPPORTED_ARCHITECTURE");
    expect(e.message).toMatch(/model_type "llava"/);
  });

  test("a folder without config.json", async () => {
    const e = await convertBroken((dir) => rmSync(join(dir, "config.json")));
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/has no config\.json/);
  });

  test("a config without RoPE parameters is refused rather than defaulted (errata a3)", async () => {
    const e = await convertBroken((dir) => {
      const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
      delete config.text_config.rope_parameters;
      writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    });
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/neither rope_parameters nor rope_theta/);
  });

  test("a tokenizer that is not Llama 3's is UNSUPPORTED_ARCHITECTURE", async () => {
    const e = await convertBroken((dir) => {
      const tok = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
      tok.pre_tokenizer.pretokenizers[0].pattern.Regex = "\\s+|\\w+";
      writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tok));
    });
    expect(e.code).toBe("UNSUPPORTED_ARCHITECTURE");
    expect(e.message).toMatch(/not Llama 3's/);
  });

  test("a tensor the config does not describe", async () => {
    const e = await convertBroken((dir) => {
      writeSafetensors(join(dir, "model.safetensors"), []);
      const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8"));
      writeSafetensors(join(dir, "extra.safetensors"), [{ name: "language_model.model.layers.9.mlp.up_proj.weight", dtype: "F32", shape: [2], bytes: new Uint8Array(8) }]);
      index.weight_map["language_model.model.layers.9.mlp.up_proj.weight"] = "extra.safetensors";
      writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify(index));
    });
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/does not have \(language_model\.model\.layers\.9\.mlp\.up_proj\.weight\)/);
  });

  test("no preprocessor_config.json (never the processor's 0.5 defaults)", async () => {
    const e = await convertBroken((dir) => rmSync(join(dir, "preprocessor_config.json")));
    expect(e.code).toBe("INVALID_CHECKPOINT");
    expect(e.message).toMatch(/preprocessor_config\.json/);
  });

  test("an abort while writing is ABORTED and leaves neither file", async () => {
    const controller = new AbortController();
    const e = await convertBroken(() => {}, {
      signal: controller.signal,
      onProgress: ({ bytesWritten, bytesTotal }) => {
        if (bytesWritten > bytesTotal / 2) controller.abort();
      },
    });
    expect(e).toBeInstanceOf(AbortError);
    expect(e.code).toBe("ABORTED");
  });

  test("the same path for both files is INVALID_ARGUMENT; a missing folder is MODEL_NOT_FOUND", async () => {
    const same = await convertModel({ input: base, output: out("x.gguf"), projectorOutput: out("x.gguf"), type: "f16" }).catch((e) => e);
    expect(same.code).toBe("INVALID_ARGUMENT");
    const missing = await convertModel({ input: join(base, "nope"), output: out("y.gguf"), projectorOutput: out("mmproj-y.gguf"), type: "f16" }).catch((e) => e);
    expect(missing.code).toBe("MODEL_NOT_FOUND");
    expect(existsSync(out("y.gguf"))).toBe(false);
  });
});
