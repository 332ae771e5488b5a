// A small synthetic mllama checkpoint written in TypeScript (no Python): a tiny config, a few tensors of
// every kind, F32/BF16/F16 dtypes, sharded like save_pretrained, plus tokenizer.json, tokenizer_config.json,
// chat_template.json and preprocessor_config.json. The converter tests run on it.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { encodeF16 } from "../../lib/gguf/f16.js";
import { seededRandom } from "../../lib/seeded-random.js";

export type Dtype = "F32" | "F16" | "BF16";

export interface StTensor {
  name: string;
  dtype: Dtype | string;
  shape: number[];
  /** Raw little-endian bytes. */
  bytes: Uint8Array;
}

/** Writes a safetensors file (header padded with spaces to 8 bytes, as the library does). */
export function writeSafetensors(path: string, tensors: StTensor[], metadata: Record<string, string> = { format: "pt" }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += " ";
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  writeFileSync(path, Buffer.concat([length, Buffer.from(json), ...tensors.map((t) => Buffer.from(t.bytes))]));
}

/** Float32 values → bytes of `dtype`, and the float32 values a reader must get back. */
export function encodeAs(values: Float32Array, dtype: Dtype): { bytes: Uint8Array; values: Float32Array } {
  if (dtype === "F32") return { bytes: new Uint8Array(values.slice().buffer), values };
  if (dtype === "F16") {
    const bytes = encodeF16(values);
    const back = new Float32Array(values.length);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) {
      const h = view.getUint16(2 * i, true);
      const e = (h >>> 10) & 0x1f;
      const m = h & 0x3ff;
      back[i] = (h & 0x8000 ? -1 : 1) * (e === 0 ? m * 2 ** -24 : (1024 + m) * 2 ** (e - 25));
    }
    return { bytes, values: back };
  }
  // BF16 by truncation (any BF16 is fine as input; what matters is that both sides agree).
  const bits = new Uint32Array(values.slice().buffer);
  const bytes = new Uint8Array(values.length * 2);
  const back = new Float32Array(values.length);
  const backBits = new Uint32Array(back.buffer);
  bits.forEach((w, i) => {
    bytes[2 * i] = (w >>> 16) & 0xff;
    bytes[2 * i + 1] = w >>> 24;
    backBits[i] = (w & 0xffff0000) >>> 0;
  });
  return { bytes, values: back };
}

export const LLAMA3_REGEX =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** The synthetic shapes. */
export const SYNTH = {
  text: { hidden: 64, heads: 4, kvHeads: 2, headDim: 16, ff: 96, blocks: 3, cross: [1], vocab: 256 },
  vision: { hidden: 32, heads: 2, ff: 48, layers: 2, global: 1, intermediate: [0, 1], image: 28, patch: 14, tiles: 4, positions: 5, ratios: 8 },
  imageToken: 256,
  rope: { rope_type: "llama3", rope_theta: 500000.0, factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 64 },
  chatTemplate: "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}<|eot_id|>{% endfor %}",
};

/** Token texts: 240 ordinary ones, then added tokens with a hole at 245–254. */
export function syntheticTokens(): { vocab: Record<string, number>; added: { id: number; content: string; special: boolean }[] } {
  const vocab: Record<string, number> = {};
  for (let i = 0; i < 240; i++) vocab[i < 26 ? String.fromCharCode(97 + i) : `Ġt${i}`] = i;
  const added = [
    { id: 240, content: "<|begin_of_text|>", special: true },
    { id: 241, content: "<|end_of_text|>", special: true },
    { id: 242, content: "<|start_header_id|>", special: true },
    { id: 243, content: "<|end_header_id|>", special: true },
    { id: 244, content: "<|eot_id|>", special: true },
    { id: 255, content: "<|finetune_right_pad_id|>", special: true },
    { id: 256, content: "<|image|>", special: true },
    { id: 239, content: "<think>", special: false }, // an added token that is not special: USER_DEFINED
  ];
  return { vocab, added };
}

export interface SyntheticOptions {
  /** "v5": rope_parameters (transformers 5); "v4": rope_theta + rope_scaling. */
  configStyle?: "v4" | "v5";
  /** "hub": language_model.model.* (the published layout); "v5": model.language_model.* */
  names?: "hub" | "v5";
  /** Split into this many shards with an index (1: a single model.safetensors). */
  shards?: number;
  seed?: number;
}

export interface SyntheticCheckpoint {
  dir: string;
  /** The float32 values a reader gets for each tensor, by Hub name. */
  values: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  config: Record<string, unknown>;
}

/** Writes the synthetic checkpoint into `dir` (emptied first). */
export function writeSyntheticMllama(dir: string, options: SyntheticOptions = {}): SyntheticCheckpoint {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const random = seededRandom(options.seed ?? 11);
  const { text: T, vision: V } = SYNTH;
  const tensors: (StTensor & { hub: string })[] = [];
  const values = new Map<string, Float32Array>();
  const shapes = new Map<string, number[]>();
  let n = 0;
  const add = (hub: string, shape: number[], scale = 1, center = 0) => {
    const count = shape.reduce((a, b) => a * b, 1);
    const raw = Float32Array.from({ length: count }, () => center + (random() * 2 - 1) * scale);
    // Cycle the dtypes so every kind of tensor meets every reader path.
    const dtype: Dtype = (["F32", "BF16", "F16"] as const)[n++ % 3]!;
    const { bytes, values: back } = encodeAs(raw, dtype);
    const name = options.names === "v5" ? v5Name(hub) : hub;
    tensors.push({ name, hub, dtype, shape, bytes });
    values.set(hub, back);
    shapes.set(hub, shape);
  };
  const H = T.hidden;
  const L = "language_model.model.";
  add(`${L}embed_tokens.weight`, [T.vocab + 8, H]);
  add(`${L}norm.weight`, [H], 0.2, 1);
  add("language_model.lm_head.weight", [T.vocab, H], 0.3);
  for (let i = 0; i < T.blocks; i++) {
    const p = `${L}layers.${i}.`;
    add(`${p}input_layernorm.weight`, [H], 0.2, 1);
    add(`${p}post_attention_layernorm.weight`, [H], 0.2, 1);
    add(`${p}mlp.gate_proj.weight`, [T.ff, H]);
    add(`${p}mlp.up_proj.weight`, [T.ff, H]);
    add(`${p}mlp.down_proj.weight`, [H, T.ff]);
    if (T.cross.includes(i)) {
      add(`${p}cross_attn.q_proj.weight`, [T.heads * T.headDim, H]);
      add(`${p}cross_attn.k_proj.weight`, [T.kvHeads * T.headDim, H]);
      add(`${p}cross_attn.v_proj.weight`, [T.kvHeads * T.headDim, H]);
      add(`${p}cross_attn.o_proj.weight`, [H, T.heads * T.headDim]);
      add(`${p}cross_attn.q_norm.weight`, [T.headDim], 0.2, 1);
      add(`${p}cross_attn.k_norm.weight`, [T.headDim], 0.2, 1);
      add(`${p}cross_attn_attn_gate`, [1]);
      add(`${p}cross_attn_mlp_gate`, [1]);
    } else {
      add(`${p}self_attn.q_proj.weight`, [T.heads * T.headDim, H]);
      add(`${p}self_attn.k_proj.weight`, [T.kvHeads * T.headDim, H]);
      add(`${p}self_attn.v_proj.weight`, [T.kvHeads * T.headDim, H]);
      add(`${p}self_attn.o_proj.weight`, [H, T.heads * T.headDim]);
    }
  }
  const D = V.hidden;
  const Vp = "vision_model.";
  add(`${Vp}patch_embedding.weight`, [D, 3, V.patch, V.patch]);
  add(`${Vp}class_embedding`, [D]);
  add(`${Vp}gated_positional_embedding.embedding`, [V.positions, D]);
  add(`${Vp}gated_positional_embedding.gate`, [1]);
  add(`${Vp}gated_positional_embedding.tile_embedding.weight`, [V.ratios + 1, V.tiles * V.positions * D], 0.1);
  for (const which of ["pre", "post"]) {
    add(`${Vp}${which}_tile_positional_embedding.embedding.weight`, [V.ratios + 1, V.tiles * D], 0.1);
    add(`${Vp}${which}_tile_positional_embedding.gate`, [1]);
  }
  for (const ln of ["layernorm_pre", "layernorm_post"]) {
    add(`${Vp}${ln}.weight`, [D], 0.2, 1);
    add(`${Vp}${ln}.bias`, [D], 0.2);
  }
  const layer = (p: string, gated: boolean) => {
    for (const proj of ["q", "k", "v", "o"]) add(`${p}self_attn.${proj}_proj.weight`, [D, D]);
    add(`${p}mlp.fc1.weight`, [V.ff, D]);
    add(`${p}mlp.fc1.bias`, [V.ff], 0.1);
    add(`${p}mlp.fc2.weight`, [D, V.ff]);
    add(`${p}mlp.fc2.bias`, [D], 0.1);
    for (const ln of ["input_layernorm", "post_attention_layernorm"]) {
      add(`${p}${ln}.weight`, [D], 0.2, 1);
      add(`${p}${ln}.bias`, [D], 0.2);
    }
    if (gated) {
      add(`${p}gate_attn`, [1]);
      add(`${p}gate_ffn`, [1]);
    }
  };
  for (let i = 0; i < V.layers; i++) layer(`${Vp}transformer.layers.${i}.`, false);
  for (let i = 0; i < V.global; i++) layer(`${Vp}global_transformer.layers.${i}.`, true);
  add("multi_modal_projector.weight", [H, D * (1 + V.intermediate.length)]);
  add("multi_modal_projector.bias", [H], 0.1);

  const shards = options.shards ?? 3;
  if (shards === 1) {
    writeSafetensors(join(dir, "model.safetensors"), tensors);
  } else {
    const weightMap: Record<string, string> = {};
    for (let s = 0; s < shards; s++) {
      const file = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
      const part = tensors.filter((_, i) => i % shards === s);
      writeSafetensors(join(dir, file), part);
      for (const t of part) weightMap[t.name] = file;
    }
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }, null, 2));
  }

  const textConfig: Record<string, unknown> = {
    model_type: "mllama_text_model",
    vocab_size: T.vocab,
    hidden_size: H,
    intermediate_size: T.ff,
    num_hidden_layers: T.blocks,
    num_attention_heads: T.heads,
    num_key_value_heads: T.kvHeads,
    cross_attention_layers: T.cross,
    rms_norm_eps: 1e-5,
    max_position_embeddings: 2048,
    bos_token_id: 240,
    eos_token_id: [241, 244],
    pad_token_id: 255,
  };
  if (options.configStyle === "v4") {
    const { rope_theta, ...scaling } = SYNTH.rope;
    Object.assign(textConfig, { rope_theta, rope_scaling: scaling });
  } else {
    textConfig.rope_parameters = SYNTH.rope;
  }
  const config = {
    architectures: ["MllamaForConditionalGeneration"],
    model_type: "mllama",
    image_token_index: SYNTH.imageToken,
    text_config: textConfig,
    vision_config: {
      model_type: "mllama_vision_model",
      hidden_size: D,
      attention_heads: V.heads,
      intermediate_size: V.ff,
      num_hidden_layers: V.layers,
      num_global_layers: V.global,
      intermediate_layers_indices: V.intermediate,
      vision_output_dim: D * (1 + V.intermediate.length),
      image_size: V.image,
      patch_size: V.patch,
      max_num_tiles: V.tiles,
      norm_eps: 1e-5,
      supported_aspect_ratios: [[1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1]],
    },
  };
  writeFileSync(join(dir, "config.json"), JSON.stringify(config, null, 2));

  const { vocab, added } = syntheticTokens();
  const merges: unknown[] = ["a b", ["Ġt30", "Ġt31"], "c d", ["e", "f"]];
  writeFileSync(
    join(dir, "tokenizer.json"),
    JSON.stringify({
      version: "1.0",
      added_tokens: added.map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false })),
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: LLAMA3_REGEX }, behavior: "Isolated", invert: false },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      model: { type: "BPE", ignore_merges: true, vocab, merges },
    }),
  );
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({ bos_token: "<|begin_of_text|>", eos_token: "<|eot_id|>", pad_token: "<|finetune_right_pad_id|>", chat_template: "not this one" }),
  );
  writeFileSync(join(dir, "chat_template.json"), JSON.stringify({ chat_template: SYNTH.chatTemplate }));
  writeFileSync(
    join(dir, "preprocessor_config.json"),
    JSON.stringify({ image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711], max_image_tiles: 4, size: { height: 28, width: 28 } }),
  );
  return { dir, values, shapes, config };
}

function v5Name(hub: string): string {
  if (hub.startsWith("language_model.model.")) return `model.language_model.${hub.slice("language_model.model.".length)}`;
  if (hub === "language_model.lm_head.weight") return "lm_head.weight";
  return `model.${hub}`;
}
