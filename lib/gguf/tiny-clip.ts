// Tiny multimodal projectors (mmproj) with seeded random weights, which libmtmd loads and runs like the
// real ones:
// - `mlp`: LLaVA 1.5 style, a 2-layer CLIP ViT for 56-pixel images in 14-pixel patches with the
//   two-layer MLP into the text model's embedding space;
// - `qwen2vl_merger`: Qwen2-VL style, a ViT with 2-D rotary positions over dynamic image sizes and a
//   merger of 2x2 patches; it needs an M-RoPE text model (writeTinyLlama architecture "qwen2vl");
// - `gemma3`: Gemma 3 style, a SigLIP ViT whose patches are average-pooled; its image tokens attend to
//   each other (non-causal), so a whole image must fit in one ubatch.
import { seededRandom } from "../seeded-random.js";
import type { GgufValue } from "./types.js";
import { withGivenWeights } from "./tiny-llama.js";
import { gguf, writeGguf, type GgufTensor } from "./writer.js";

export interface TinyClipOptions {
  /** Embedding size of the text model the projector feeds (its n_embd). */
  textEmbeddingSize: number;
  projectorType?: "mlp" | "qwen2vl_merger" | "gemma3";
  seed?: number;
  embeddingSize?: number;
  layers?: number;
  heads?: number;
  feedForwardSize?: number;
  imageSize?: number;
  patchSize?: number;
  /** Trained values by GGUF tensor name, instead of seeded random ones (see writeTinyLlama). */
  weights?: ReadonlyMap<string, Float32Array>;
  name?: string;
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
  const type = options.projectorType ?? "mlp";

  const kv = new Map<string, GgufValue>([
    ["general.architecture", gguf.str("clip")],
    ["general.name", gguf.str(options.name ?? "stagebeam tiny clip (random weights)")],
    ["general.file_type", gguf.u32(0)],
    ["clip.has_vision_encoder", gguf.bool(true)],
    ["clip.projector_type", gguf.str(type)],
    ...(type === "mlp" ? ([["clip.use_gelu", gguf.bool(true)]] as [string, GgufValue][]) : []),
    ...(type === "gemma3" ? ([["clip.vision.projector.scale_factor", gguf.u32(2)]] as [string, GgufValue][]) : []),
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

  const patchKernel = () => uniform(patch * patch * 3 * nEmbd, Math.sqrt(3 / (patch * patch * 3)));
  const tensors: GgufTensor[] =
    type === "mlp"
      ? [
          { name: "v.patch_embd.weight", dims: [patch, patch, 3, nEmbd], data: patchKernel() },
          { name: "v.class_embd", dims: [nEmbd], data: uniform(nEmbd, 1) },
          { name: "v.position_embd.weight", dims: [nEmbd, nPatches + 1], data: uniform(nEmbd * (nPatches + 1), 0.5) },
          ...norm("v.pre_ln"),
        ]
      : type === "gemma3"
      ? [
          { name: "v.patch_embd.weight", dims: [patch, patch, 3, nEmbd], data: patchKernel() },
          { name: "v.patch_embd.bias", dims: [nEmbd], data: uniform(nEmbd, 0.1) },
          { name: "v.position_embd.weight", dims: [nEmbd, nPatches], data: uniform(nEmbd * nPatches, 0.5) },
        ]
      : [
          // two kernels: Qwen2-VL's patch embedding spans two video frames; a still image uses both
          { name: "v.patch_embd.weight", dims: [patch, patch, 3, nEmbd], data: patchKernel() },
          { name: "v.patch_embd.weight.1", dims: [patch, patch, 3, nEmbd], data: patchKernel() },
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
  if (type === "mlp") {
    tensors.push(...linear("mm.0", nEmbd, nText), ...linear("mm.2", nText, nText));
  } else if (type === "gemma3") {
    tensors.push(
      ...norm("v.post_ln"),
      { name: "mm.soft_emb_norm.weight", dims: [nEmbd], data: ones(nEmbd) },
      // stored transposed (ne0 = text embedding), as Gemma 3's converter writes it
      { name: "mm.input_projection.weight", dims: [nText, nEmbd], data: uniform(nText * nEmbd, Math.sqrt(3 / nEmbd)) },
    );
  } else {
    // the merger: 2x2 neighbouring patches concatenated, then an MLP into the text embedding space
    tensors.push(...norm("v.post_ln"), ...linear("mm.0", nEmbd * 4, nEmbd * 4), ...linear("mm.2", nEmbd * 4, nText));
  }
  writeGguf(path, kv, options.weights ? withGivenWeights(tensors, options.weights) : tensors);
}
