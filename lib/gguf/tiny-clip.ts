// A tiny LLaVA-style multimodal projector (mmproj) with seeded random weights: a 2-layer CLIP ViT for
// 56-pixel images in 14-pixel patches, and the two-layer `mlp` projector into the text model's
// embedding space. libmtmd loads and runs it like a real LLaVA 1.5 projector.
import { seededRandom } from "./tiny-llama.js";
import type { GgufValue } from "./types.js";
import { gguf, writeGguf, type GgufTensor } from "./writer.js";

export interface TinyClipOptions {
  /** Embedding size of the text model the projector feeds (its n_embd). */
  textEmbeddingSize: number;
  seed?: number;
  embeddingSize?: number;
  layers?: number;
  heads?: number;
  feedForwardSize?: number;
  imageSize?: number;
  patchSize?: number;
}

export function writeTinyClip(path: string, options: TinyClipOptions): void {
  const nText = options.textEmbeddingSize;
  const nEmbd = options.embeddingSize ?? 32;
  const nLayer = options.layers ?? 2;
  const nHead = options.heads ?? 2;
  const nFf = options.feedForwardSize ?? 64;
  const imageSize = options.imageSize ?? 56;
  const patch = options.patchSize ?? 14;
  const nPatches = (imageSize / patch) ** 2;
  const random = seededRandom(options.seed ?? 2);

  const kv = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("clip")],
    ["general.name", gguf.str("stagebeam tiny clip (random weights)")],
    ["general.file_type", gguf.u32(0)],
    ["clip.has_vision_encoder", gguf.bool(true)],
    ["clip.projector_type", gguf.str("mlp")],
    ["clip.use_gelu", gguf.bool(true)],
    ["clip.vision.image_size", gguf.u32(imageSize)],
    ["clip.vision.patch_size", gguf.u32(patch)],
    ["clip.vision.embedding_length", gguf.u32(nEmbd)],
    ["clip.vision.feed_forward_length", gguf.u32(nFf)],
    ["clip.vision.block_count", gguf.u32(nLayer)],
    ["clip.vision.attention.head_count", gguf.u32(nHead)],
    ["clip.vision.attention.layer_norm_epsilon", gguf.f32(1e-5)],
    ["clip.vision.projection_dim", gguf.u32(nText)],
    ["clip.vision.image_mean", gguf.f32s([0.48145466, 0.4578275, 0.40821073])],
    ["clip.vision.image_std", gguf.f32s([0.26862954, 0.26130258, 0.27577711])],
  ]);

  const uniform = (n: number, scale: number) => {
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (random() * 2 - 1) * scale;
    return data;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  const zeros = (n: number) => new Float32Array(n);
  const linear = (name: string, fanIn: number, fanOut: number): GgufTensor[] => [
    { name: `${name}.weight`, dims: [fanIn, fanOut], data: uniform(fanIn * fanOut, Math.sqrt(3 / fanIn)) },
    { name: `${name}.bias`, dims: [fanOut], data: uniform(fanOut, 0.1) },
  ];
  const norm = (name: string): GgufTensor[] => [
    { name: `${name}.weight`, dims: [nEmbd], data: ones(nEmbd) },
    { name: `${name}.bias`, dims: [nEmbd], data: zeros(nEmbd) },
  ];

  const tensors: GgufTensor[] = [
    { name: "v.patch_embd.weight", dims: [patch, patch, 3, nEmbd], data: uniform(patch * patch * 3 * nEmbd, Math.sqrt(3 / (patch * patch * 3))) },
    { name: "v.class_embd", dims: [nEmbd], data: uniform(nEmbd, 1) },
    { name: "v.position_embd.weight", dims: [nEmbd, nPatches + 1], data: uniform(nEmbd * (nPatches + 1), 0.5) },
    ...norm("v.pre_ln"),
  ];
  for (let i = 0; i < nLayer; i++) {
    const blk = `v.blk.${i}`;
    tensors.push(
      ...linear(`${blk}.attn_q`, nEmbd, nEmbd),
      ...linear(`${blk}.attn_k`, nEmbd, nEmbd),
      ...linear(`${blk}.attn_v`, nEmbd, nEmbd),
      ...linear(`${blk}.attn_out`, nEmbd, nEmbd),
      ...norm(`${blk}.ln1`),
      ...norm(`${blk}.ln2`),
      ...linear(`${blk}.ffn_up`, nEmbd, nFf),
      ...linear(`${blk}.ffn_down`, nFf, nEmbd),
    );
  }
  // The projector's output must land on the scale of the text model's token embeddings.
  tensors.push(...linear("mm.0", nEmbd, nText), ...linear("mm.2", nText, nText));
  writeGguf(path, kv, tensors);
}
