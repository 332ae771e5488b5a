// The mllama vision encoder and projector as one ggml graph (architecture.md §1.2, plan §2.2), for one
// image: all max_tiles tiles (padded tiles included: real tokens attend to them, and transformers keeps
// their states) flattened into ONE sequence of tiles × padded positions, so attention crosses tiles.
//
// The patch embedding is a host-side unfold (UnfoldPatches) times the kernel viewed as [C·p·p, D]: ggml's
// conv_2d would round the pixels to F16 in its im2col (errata a1).
#pragma once

#include <cstdint>

#include "ggml.h"
#include "vision_weights.h"

namespace stagebeam::mllama {

struct VisionGraph {
    ggml_cgraph * graph = nullptr;
    ggml_tensor * patches = nullptr;  // F32 [C·p·p, patches × tiles]: UnfoldPatches' output
    ggml_tensor * mask = nullptr;     // F16 [L, L], L = tiles × padded positions: FillPaddingMask's output
    ggml_tensor * states = nullptr;   // F32 [projection_dim, positions × tiles]: the cross-attention states
};

// Builds into `ctx` (a no_alloc context of VisionGraphContextBytes). `aspect_ratio_id` (1..ratios) picks the
// rows of the tile embedding tables; it is known when the graph is built, so those rows are plain views.
// With `flash_attn`, attention is ggml_flash_attn_ext over F16 K/V (no [L, L, heads] score matrices: 2.6 GB
// less at 11B shapes); otherwise mul_mat + soft_max_ext in F32, over query chunks of `chunk` rows (a
// divisor of tiles × padded positions: VisionAttentionChunk's, or a smaller one tests choose).
VisionGraph BuildVisionGraph(ggml_context * ctx, const VisionWeights & w, int32_t aspect_ratio_id, bool flash_attn, int64_t chunk);

// Query rows per softmax-attention chunk by default: a divisor of tiles × padded positions.
int64_t VisionAttentionChunk(const VisionHparams & hp);
size_t VisionGraphNodeBudget(const VisionHparams & hp, int64_t chunk);
size_t VisionGraphContextBytes(const VisionHparams & hp, int64_t chunk);

// pixels: [tiles, C, S, S] row-major (the image processor's layout). out: [tiles × patches, C·p·p], each
// patch in (c, ky, kx) order with kx fastest — the order of the conv kernel's [p, p, C, D] ggml layout,
// so kernel · patch is the convolution at that patch.
void UnfoldPatches(const VisionHparams & hp, const float * pixels, float * out);

// The padding mask of _prepare_aspect_ratio_attention_mask: a token is padding when it is in a tile at or
// past `real_tiles` or in the rows that pad a tile to a multiple of 8; a pair is masked (-inf) only when
// BOTH query and key are padding — real tokens still attend to padding. F16 holds -inf exactly, and no
// row is fully masked (every query sees tile 0's real tokens), so -inf is equivalent to HF's finfo.min
// (errata b11). With `enabled` false every entry is 0 (tests prove the mask matters).
void FillPaddingMask(const VisionHparams & hp, int32_t real_tiles, bool enabled, ggml_fp16_t * out);

}  // namespace stagebeam::mllama
