// The decoder graph for one ubatch: tokens of any number of sequences, each at its own position, written
// into the KV cells the cache chose for them and attending through the cache's mask. Logits come out
// only for the rows flagged as outputs.
//
// Cross-attention blocks run only when some token of the ubatch sees an image: with Meta's semantics a
// row that sees none passes a cross block unchanged (architecture.md §1.3), so text-only work costs what
// a plain Llama does, and text before an image never depends on it.
#pragma once

#include <cstdint>

#include "cross_store.h"
#include "ggml.h"
#include "kv_cache.h"
#include "weights.h"

namespace stagebeam::mllama {

struct TextGraph {
    ggml_cgraph * graph = nullptr;
    ggml_tensor * tokens = nullptr;     // I32 [n_tokens]
    ggml_tensor * positions = nullptr;  // I32 [n_tokens]
    ggml_tensor * cells = nullptr;      // I64 [n_tokens]: where each token's K/V rows go
    ggml_tensor * mask = nullptr;       // [n_kv, n_tokens]: F16 with flash attention, else F32
    ggml_tensor * outputs = nullptr;    // I32 [n_outputs]: rows whose logits are computed
    ggml_tensor * cross_mask = nullptr; // [cross rows, n_tokens] (type as `mask`), when some token sees an image
    ggml_tensor * row_mask = nullptr;   // F32 [1, n_tokens]: 1 where the token sees an image
    ggml_tensor * logits = nullptr;     // F32 [n_vocab_out, n_outputs]
};

// Builds into `ctx` (a no_alloc context sized by GraphContextBytes).
// Parts of the cross-attention blocks a sensitivity test can switch off, to show that the parity tests
// would notice each one missing. Never set outside tests.
enum Ablation : uint32_t {
    kAblateNone = 0,
    kAblateRowMask = 1,    // rows that see no image are not zeroed
    kAblateGates = 2,      // both gates taken as 1 instead of tanh(gate)
    kAblateTileMask = 4,   // text sees the padded tiles too
    kAblateCrossNorms = 8, // no per-head q/k RMS norm in cross attention
};

// `cross` may be null (no image store); `view.lo < 0` when no token of the ubatch sees an image.
// `flash_attn`: ggml's fused attention (F16 masks; K/V cast to F16 when the caches are F32): no score
// matrix is materialised, which matters at long contexts; queries are rounded to F16 on the CPU.
TextGraph BuildTextGraph(ggml_context * ctx, const TextWeights & w, const KvCache & kv, uint32_t n_tokens, uint32_t n_kv, uint32_t n_outputs,
                         const CrossStore * cross = nullptr, CrossStore::View view = {}, uint32_t ablate = kAblateNone, bool flash_attn = false);

// Computes every cross block's K (with its per-head RMS norm) and V from an image's vision states
// (input `states`: F32 [n_embd, rows_per_image]) into `slot` of the store.
struct CrossKvGraph {
    ggml_cgraph * graph = nullptr;
    ggml_tensor * states = nullptr;
};
CrossKvGraph BuildCrossKvGraph(ggml_context * ctx, const TextWeights & w, const CrossStore & cross, int32_t slot, uint32_t ablate = kAblateNone);

size_t GraphNodeBudget(const TextHparams & hp);
size_t GraphContextBytes(const TextHparams & hp);

}  // namespace stagebeam::mllama
