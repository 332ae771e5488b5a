// The decoder graph for one ubatch: tokens of any number of sequences, each at its own position, written
// into the KV cells the cache chose for them and attending through the cache's mask. Logits come out
// only for the rows flagged as outputs.
//
// Cross-attention blocks are left out: in this version no image is ever bound to a sequence, and with
// Meta's semantics a text row that sees no image passes a cross block unchanged (architecture.md §1.3;
// transformers skips them the same way when there are no cross states).
#pragma once

#include <cstdint>

#include "ggml.h"
#include "kv_cache.h"
#include "weights.h"

namespace stagebeam::mllama {

struct TextGraph {
    ggml_cgraph * graph = nullptr;
    ggml_tensor * tokens = nullptr;     // I32 [n_tokens]
    ggml_tensor * positions = nullptr;  // I32 [n_tokens]
    ggml_tensor * cells = nullptr;      // I64 [n_tokens]: where each token's K/V rows go
    ggml_tensor * mask = nullptr;       // F32 [n_kv, n_tokens]
    ggml_tensor * outputs = nullptr;    // I32 [n_outputs]: rows whose logits are computed
    ggml_tensor * logits = nullptr;     // F32 [n_vocab_out, n_outputs]
};

// Builds into `ctx` (a no_alloc context sized by GraphContextBytes).
TextGraph BuildTextGraph(ggml_context * ctx, const TextWeights & w, const KvCache & kv, uint32_t n_tokens, uint32_t n_kv, uint32_t n_outputs);

size_t GraphNodeBudget(const TextHparams & hp);
size_t GraphContextBytes(const TextHparams & hp);

}  // namespace stagebeam::mllama
