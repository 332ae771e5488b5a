// The text decoder's shape, read from an mllama GGUF's `mllama.*` keys (the layout stagebeam's converter
// writes; see lib/mllama/convert.ts). Blocks are numbered as in the checkpoint: self-attention blocks and
// gated cross-attention blocks share one index space (`block_count` counts both).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

namespace stagebeam::mllama {

struct TextHparams {
    uint32_t n_ctx_train = 0;
    uint32_t n_embd = 0;
    uint32_t n_block = 0;  // self + cross blocks
    uint32_t n_ff = 0;
    uint32_t n_head = 0;
    uint32_t n_head_kv = 0;
    uint32_t head_dim = 0;
    uint32_t n_rot = 0;
    uint32_t n_vocab_out = 0;  // rows of the output head (mllama.vocab_size); the tokenizer has one more (<|image|>)
    float rms_eps = 1e-5f;
    float rope_base = 500000.0f;
    std::vector<int32_t> cross_layers;
    int32_t image_token = -1;  // <|image|>: never sampled, never evaluated as text

    bool IsCross(uint32_t block) const;
    uint32_t SelfBlockCount() const { return n_block - static_cast<uint32_t>(cross_layers.size()); }
    uint32_t EmbdGqa() const { return head_dim * n_head_kv; }

    // Throws NativeError(INVALID_GGUF) naming a missing or inconsistent key.
    static TextHparams Read(const gguf_context * gguf, const std::string & path);
};

}  // namespace stagebeam::mllama
