// stagebeam's mllama GGUF layout (plan §4.2 and §4.3): the two files' tensors (name, ggml dims, storage,
// Hugging Face source) and keys. One definition, used by the converter (which fills the tensors from a
// checkpoint) and by the tiny random-weight model (which fills them from a seeded generator), so both
// write the same layout. ggml dims are the reverse of Hugging Face shapes; no tensor needs a transpose.
import type { GgufValue } from "../gguf/types.js";
import { GgmlType } from "../gguf/types.js";
import { gguf, type GgufWriteType } from "../gguf/writer.js";
import type { MllamaHparams, MllamaTextHparams, MllamaVisionHparams } from "./hf-config.js";

/** The storage type asked of the converter for 2-D weights. */
export type MllamaWeightType = "f32" | "f16" | "q8_0";

/**
 * How a GGUF tensor is made from its Hugging Face source:
 * - copy: as is;
 * - rope_q / rope_k: rows permuted per head for llama.cpp's NORM RoPE (self-attention Q with the query
 *   heads, K with the key/value heads); cross-attention and vision Q/K are never permuted;
 * - tanh / one_minus_tanh: a gate applied at conversion, as Ollama's runtime expects (vision gates).
 */
export type Transform = "copy" | "rope_q" | "rope_k" | "tanh" | "one_minus_tanh";

export interface LayoutTensor {
  name: string;
  /** ggml order (dims[0] is the row length). */
  dims: number[];
  /** "weight": a 2-D matrix stored in the chosen type; "f32": always F32 (norms, biases, gates,
   *  embeddings of positions/classes/patches, rope_freqs). */
  storage: "weight" | "f32";
  /** The Hugging Face tensor (after name normalisation) and its transform, or "rope_freqs" (computed). */
  source: { hf: string; transform: Transform } | "rope_freqs";
}

export const PAIR_ID_KEY = "stagebeam.mllama.pair_id";
/** Extra rows of Hugging Face's embed_tokens beyond vocab_size (MllamaTextModel: vocab_size + 8). */
export const EMBEDDING_EXTRA_ROWS = 8;

const copy = (hf: string) => ({ hf, transform: "copy" as const });

export function textLayout(h: MllamaTextHparams): LayoutTensor[] {
  const H = h.hiddenSize;
  const q = h.heads * h.headDim;
  const kv = h.kvHeads * h.headDim;
  const F = h.intermediateSize;
  const L = "language_model.model.";
  const out: LayoutTensor[] = [
    { name: "token_embd.weight", dims: [H, h.vocabSize + EMBEDDING_EXTRA_ROWS], storage: "weight", source: copy(`${L}embed_tokens.weight`) },
    { name: "output_norm.weight", dims: [H], storage: "f32", source: copy(`${L}norm.weight`) },
    { name: "output.weight", dims: [H, h.vocabSize], storage: "weight", source: copy("language_model.lm_head.weight") },
  ];
  if (h.ropeScaling) out.push({ name: "rope_freqs.weight", dims: [h.headDim / 2], storage: "f32", source: "rope_freqs" });
  for (let i = 0; i < h.blockCount; i++) {
    const blk = `blk.${i}`;
    const hf = `${L}layers.${i}.`;
    out.push({ name: `${blk}.attn_norm.weight`, dims: [H], storage: "f32", source: copy(`${hf}input_layernorm.weight`) });
    if (h.crossAttentionLayers.includes(i)) {
      out.push(
        { name: `${blk}.cross_attn_q_proj.weight`, dims: [H, q], storage: "weight", source: copy(`${hf}cross_attn.q_proj.weight`) },
        { name: `${blk}.cross_attn_k_proj.weight`, dims: [H, kv], storage: "weight", source: copy(`${hf}cross_attn.k_proj.weight`) },
        { name: `${blk}.cross_attn_v_proj.weight`, dims: [H, kv], storage: "weight", source: copy(`${hf}cross_attn.v_proj.weight`) },
        { name: `${blk}.cross_attn_o_proj.weight`, dims: [q, H], storage: "weight", source: copy(`${hf}cross_attn.o_proj.weight`) },
        { name: `${blk}.cross_attn_q_norm.weight`, dims: [h.headDim], storage: "f32", source: copy(`${hf}cross_attn.q_norm.weight`) },
        { name: `${blk}.cross_attn_k_norm.weight`, dims: [h.headDim], storage: "f32", source: copy(`${hf}cross_attn.k_norm.weight`) },
        // Raw: the runtime takes tanh of the text gates.
        { name: `${blk}.cross_attn_attn_gate`, dims: [1], storage: "f32", source: copy(`${hf}cross_attn_attn_gate`) },
        { name: `${blk}.cross_attn_mlp_gate`, dims: [1], storage: "f32", source: copy(`${hf}cross_attn_mlp_gate`) },
      );
    } else {
      out.push(
        { name: `${blk}.attn_q.weight`, dims: [H, q], storage: "weight", source: { hf: `${hf}self_attn.q_proj.weight`, transform: "rope_q" } },
        { name: `${blk}.attn_k.weight`, dims: [H, kv], storage: "weight", source: { hf: `${hf}self_attn.k_proj.weight`, transform: "rope_k" } },
        { name: `${blk}.attn_v.weight`, dims: [H, kv], storage: "weight", source: copy(`${hf}self_attn.v_proj.weight`) },
        { name: `${blk}.attn_output.weight`, dims: [q, H], storage: "weight", source: copy(`${hf}self_attn.o_proj.weight`) },
      );
    }
    out.push(
      { name: `${blk}.ffn_norm.weight`, dims: [H], storage: "f32", source: copy(`${hf}post_attention_layernorm.weight`) },
      { name: `${blk}.ffn_gate.weight`, dims: [H, F], storage: "weight", source: copy(`${hf}mlp.gate_proj.weight`) },
      { name: `${blk}.ffn_up.weight`, dims: [H, F], storage: "weight", source: copy(`${hf}mlp.up_proj.weight`) },
      { name: `${blk}.ffn_down.weight`, dims: [F, H], storage: "weight", source: copy(`${hf}mlp.down_proj.weight`) },
    );
  }
  return out;
}

export function visionLayout(v: MllamaVisionHparams, projectionDim: number): LayoutTensor[] {
  const D = v.hiddenSize;
  const I = v.intermediateSize;
  const N = v.positions;
  const T = v.maxTiles;
  const ids = v.aspectRatios.length + 1; // id 0 is "no image"
  const V = "vision_model.";
  const gate = (hf: string, transform: Transform) => ({ hf, transform });
  const out: LayoutTensor[] = [
    { name: "v.patch_embd.weight", dims: [v.patchSize, v.patchSize, v.channels, D], storage: "f32", source: copy(`${V}patch_embedding.weight`) },
    { name: "v.class_embd", dims: [D], storage: "f32", source: copy(`${V}class_embedding`) },
    { name: "v.position_embd.weight", dims: [D, N], storage: "f32", source: copy(`${V}gated_positional_embedding.embedding`) },
    // One source gate, two stored factors: (1 − tanh g) for the position table, tanh g for the tile table.
    { name: "v.position_embd.gate", dims: [1], storage: "f32", source: gate(`${V}gated_positional_embedding.gate`, "one_minus_tanh") },
    { name: "v.tile_position_embd.weight", dims: [T * N * D, ids], storage: "f32", source: copy(`${V}gated_positional_embedding.tile_embedding.weight`) },
    { name: "v.tile_position_embd.gate", dims: [1], storage: "f32", source: gate(`${V}gated_positional_embedding.gate`, "tanh") },
    { name: "v.pre_tile_position_embd.weight", dims: [T * D, ids], storage: "f32", source: copy(`${V}pre_tile_positional_embedding.embedding.weight`) },
    { name: "v.pre_tile_position_embd.gate", dims: [1], storage: "f32", source: gate(`${V}pre_tile_positional_embedding.gate`, "tanh") },
    { name: "v.post_tile_position_embd.weight", dims: [T * D, ids], storage: "f32", source: copy(`${V}post_tile_positional_embedding.embedding.weight`) },
    { name: "v.post_tile_position_embd.gate", dims: [1], storage: "f32", source: gate(`${V}post_tile_positional_embedding.gate`, "tanh") },
    { name: "v.pre_ln.weight", dims: [D], storage: "f32", source: copy(`${V}layernorm_pre.weight`) },
    { name: "v.pre_ln.bias", dims: [D], storage: "f32", source: copy(`${V}layernorm_pre.bias`) },
    { name: "v.post_ln.weight", dims: [D], storage: "f32", source: copy(`${V}layernorm_post.weight`) },
    { name: "v.post_ln.bias", dims: [D], storage: "f32", source: copy(`${V}layernorm_post.bias`) },
  ];
  const layer = (blk: string, hf: string, gated: boolean) => {
    out.push(
      { name: `${blk}.attn_norm.weight`, dims: [D], storage: "f32", source: copy(`${hf}input_layernorm.weight`) },
      { name: `${blk}.attn_norm.bias`, dims: [D], storage: "f32", source: copy(`${hf}input_layernorm.bias`) },
      { name: `${blk}.attn_q.weight`, dims: [D, D], storage: "weight", source: copy(`${hf}self_attn.q_proj.weight`) },
      { name: `${blk}.attn_k.weight`, dims: [D, D], storage: "weight", source: copy(`${hf}self_attn.k_proj.weight`) },
      { name: `${blk}.attn_v.weight`, dims: [D, D], storage: "weight", source: copy(`${hf}self_attn.v_proj.weight`) },
      { name: `${blk}.attn_output.weight`, dims: [D, D], storage: "weight", source: copy(`${hf}self_attn.o_proj.weight`) },
      { name: `${blk}.ffn_norm.weight`, dims: [D], storage: "f32", source: copy(`${hf}post_attention_layernorm.weight`) },
      { name: `${blk}.ffn_norm.bias`, dims: [D], storage: "f32", source: copy(`${hf}post_attention_layernorm.bias`) },
      { name: `${blk}.ffn_up.weight`, dims: [D, I], storage: "weight", source: copy(`${hf}mlp.fc1.weight`) },
      { name: `${blk}.ffn_up.bias`, dims: [I], storage: "f32", source: copy(`${hf}mlp.fc1.bias`) },
      { name: `${blk}.ffn_down.weight`, dims: [I, D], storage: "weight", source: copy(`${hf}mlp.fc2.weight`) },
      { name: `${blk}.ffn_down.bias`, dims: [D], storage: "f32", source: copy(`${hf}mlp.fc2.bias`) },
    );
    if (gated) {
      out.push(
        { name: `${blk}.attn_gate`, dims: [1], storage: "f32", source: gate(`${hf}gate_attn`, "tanh") },
        { name: `${blk}.ffn_gate`, dims: [1], storage: "f32", source: gate(`${hf}gate_ffn`, "tanh") },
      );
    }
  };
  for (let i = 0; i < v.blockCount; i++) layer(`v.blk.${i}`, `${V}transformer.layers.${i}.`, false);
  for (let i = 0; i < v.globalBlockCount; i++) layer(`v.global.blk.${i}`, `${V}global_transformer.layers.${i}.`, true);
  out.push(
    { name: "mm.0.weight", dims: [v.outputDim, projectionDim], storage: "weight", source: copy("multi_modal_projector.weight") },
    { name: "mm.0.bias", dims: [projectionDim], storage: "f32", source: copy("multi_modal_projector.bias") },
  );
  return out;
}

/** The stored type of a layout tensor: F32 for "f32" storage; Q8_0 only for rows of a multiple of 32 (else F16). */
export function storedType(t: LayoutTensor, weightType: MllamaWeightType): GgufWriteType {
  if (t.storage === "f32" || weightType === "f32") return GgmlType.F32;
  if (weightType === "q8_0" && t.dims[0]! % 32 === 0) return GgmlType.Q8_0;
  return GgmlType.F16;
}

/** general.file_type (llama_ftype): 0 all F32, 1 mostly F16, 7 mostly Q8_0. */
export function fileType(weightType: MllamaWeightType): number {
  return weightType === "f32" ? 0 : weightType === "f16" ? 1 : 7;
}

/** The text file's keys, before the tokenizer's (plan §4.2). */
export function textKv(h: MllamaHparams, o: { name: string; weightType: MllamaWeightType; pairId: string }): [string, GgufValue][] {
  const t = h.text;
  return [
    ["general.architecture", gguf.str("mllama")],
    ["general.name", gguf.str(o.name)],
    ["general.file_type", gguf.u32(fileType(o.weightType))],
    ["mllama.context_length", gguf.u32(t.contextLength)],
    ["mllama.embedding_length", gguf.u32(t.hiddenSize)],
    ["mllama.block_count", gguf.u32(t.blockCount)],
    ["mllama.feed_forward_length", gguf.u32(t.intermediateSize)],
    ["mllama.attention.head_count", gguf.u32(t.heads)],
    ["mllama.attention.head_count_kv", gguf.u32(t.kvHeads)],
    ["mllama.attention.layer_norm_rms_epsilon", gguf.f32(t.rmsNormEps)],
    ["mllama.rope.freq_base", gguf.f32(t.ropeTheta)],
    ["mllama.rope.dimension_count", gguf.u32(t.headDim)],
    ["mllama.vocab_size", gguf.u32(t.vocabSize)],
    ["mllama.attention.cross_attention_layers", gguf.i32s(t.crossAttentionLayers)],
    ["mllama.image_token_index", gguf.u32(h.imageTokenIndex)],
    [PAIR_ID_KEY, gguf.str(o.pairId)],
  ];
}

export interface ImageNormalization {
  mean: number[];
  std: number[];
}

/** The projector file's keys (plan §4.3; aspect ratios as flattened [h, w] pairs, errata a8). */
export function visionKv(
  h: MllamaHparams,
  o: { name: string; weightType: MllamaWeightType; pairId: string; normalization: ImageNormalization },
): [string, GgufValue][] {
  const v = h.vision;
  return [
    ["general.architecture", gguf.str("mllama")],
    ["general.type", gguf.str("projector")],
    ["general.name", gguf.str(o.name)],
    ["general.file_type", gguf.u32(fileType(o.weightType))],
    ["mllama.vision.block_count", gguf.u32(v.blockCount)],
    ["mllama.vision.global.block_count", gguf.u32(v.globalBlockCount)],
    ["mllama.vision.embedding_length", gguf.u32(v.hiddenSize)],
    ["mllama.vision.feed_forward_length", gguf.u32(v.intermediateSize)],
    ["mllama.vision.attention.head_count", gguf.u32(v.heads)],
    ["mllama.vision.attention.layer_norm_epsilon", gguf.f32(v.normEps)],
    ["mllama.vision.image_size", gguf.u32(v.imageSize)],
    ["mllama.vision.patch_size", gguf.u32(v.patchSize)],
    ["mllama.vision.max_num_tiles", gguf.u32(v.maxTiles)],
    ["mllama.vision.num_channels", gguf.u32(v.channels)],
    ["mllama.vision.projection_dim", gguf.u32(h.text.hiddenSize)],
    ["mllama.vision.intermediate_layers_indices", gguf.i32s(v.intermediateLayers)],
    ["mllama.vision.image_mean", gguf.f32s(o.normalization.mean)],
    ["mllama.vision.image_std", gguf.f32s(o.normalization.std)],
    ["mllama.vision.supported_aspect_ratios", gguf.i32s(v.aspectRatios.flat())],
    [PAIR_ID_KEY, gguf.str(o.pairId)],
  ];
}
