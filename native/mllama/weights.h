// The text decoder's weights, loaded from an mllama GGUF onto ggml backend buffers.
//
// Placement follows llama.cpp's rules: the token table stays on the CPU (a row gather gains nothing from
// a GPU, and the table is the largest tensor); with a GPU, the last `gpu_layers` blocks (all with -1) and
// then the output head go to it. Everything else is on the CPU backend.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "hparams.h"

namespace stagebeam::mllama {

struct TextBlock {
    bool cross = false;
    ggml_backend_dev_t device = nullptr;
    ggml_tensor * attn_norm = nullptr;
    // Self blocks: attn_q/k/v/output (Q and K permuted for ggml's NORMAL RoPE by the converter).
    // Cross blocks: cross_attn_{q,k,v,o}_proj (not permuted: no RoPE), with per-head q/k RMS norms.
    ggml_tensor * wq = nullptr;
    ggml_tensor * wk = nullptr;
    ggml_tensor * wv = nullptr;
    ggml_tensor * wo = nullptr;
    ggml_tensor * q_norm = nullptr;
    ggml_tensor * k_norm = nullptr;
    float attn_gate = 0.0f;  // tanh of the stored raw gate (cross blocks)
    float mlp_gate = 0.0f;
    ggml_tensor * ffn_norm = nullptr;
    ggml_tensor * ffn_gate = nullptr;
    ggml_tensor * ffn_up = nullptr;
    ggml_tensor * ffn_down = nullptr;
};

class TextWeights {
  public:
    struct Options {
        int32_t gpu_layers = -1;  // -1: all blocks and the head on the GPU when there is one; 0: CPU only
        std::function<bool(float)> progress;  // 0..1; returning false stops the load (ABORTED)
    };

    // Throws NativeError: MODEL_NOT_FOUND, INVALID_GGUF, UNSUPPORTED_ARCHITECTURE, MODEL_LOAD_FAILED, ABORTED.
    static std::unique_ptr<TextWeights> Load(const std::string & path, const Options & options);
    ~TextWeights();
    TextWeights(const TextWeights &) = delete;
    TextWeights & operator=(const TextWeights &) = delete;

    TextHparams hp;
    ggml_tensor * tok_embd = nullptr;
    ggml_tensor * output_norm = nullptr;
    ggml_tensor * output = nullptr;
    ggml_tensor * rope_freqs = nullptr;  // llama3 frequency factors; null for plain RoPE
    std::vector<TextBlock> blocks;
    ggml_backend_dev_t gpu = nullptr;    // the device offloaded blocks live on, if any
    ggml_backend_dev_t output_device = nullptr;
    uint32_t n_embd_rows = 0;            // rows of the token table (>= the tokenizer's size)
    uint64_t n_params = 0;
    uint64_t n_bytes = 0;
    std::string name;
    std::vector<std::pair<std::string, std::string>> meta;  // GGUF key/values as text (long arrays summarised)

  private:
    TextWeights() = default;
    std::vector<ggml_context *> ctxs_;
    std::vector<ggml_backend_buffer_t> buffers_;
};

}  // namespace stagebeam::mllama
