// The vision encoder and projector of an mllama pair, loaded from the projector GGUF stagebeam's converter
// writes (plan §4.3; names and shapes in lib/mllama/gguf-layout.ts visionLayout). Every tensor's shape and
// every key is checked against the others before anything reaches ggml, so a bad file is an error, never a
// GGML_ASSERT (which would abort Node).
//
// Placement is all-or-nothing: with `gpu` and a GPU (or integrated GPU) registered, every weight goes to it;
// otherwise everything stays on the CPU. The scalar gates are read to host floats at load: they scale whole
// branches, so graph constants will do (as the text weights do).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"

namespace stagebeam::mllama {

struct VisionHparams {
    uint32_t n_block = 0;         // local layers (32 in the 11B)
    uint32_t n_global = 0;        // gated global layers (8)
    uint32_t n_embd = 0;          // 1280
    uint32_t n_ff = 0;            // 5120
    uint32_t n_head = 0;          // 16
    float eps = 1e-5f;
    uint32_t image_size = 0;      // tile side in pixels (560)
    uint32_t patch_size = 0;      // 14
    uint32_t max_tiles = 0;       // 4
    uint32_t channels = 0;        // 3
    uint32_t projection_dim = 0;  // the text model's hidden size (4096)
    std::vector<int32_t> intermediate;                  // local layers whose INPUT is kept (Meta semantics)
    std::vector<float> image_mean, image_std;           // per channel
    std::vector<std::pair<int32_t, int32_t>> aspect_ratios;  // (h_tiles, w_tiles); id = index + 1
    std::string pair_id;

    uint32_t HeadDim() const { return n_embd / n_head; }
    uint32_t PatchesPerSide() const { return image_size / patch_size; }
    uint32_t Patches() const { return PatchesPerSide() * PatchesPerSide(); }  // per tile (1600)
    uint32_t Positions() const { return Patches() + 1; }                      // with the class token (1601)
    uint32_t PaddedPositions() const { return (Positions() + 7) / 8 * 8; }    // each tile padded to a multiple of 8 (1608)
    uint32_t PatchValues() const { return channels * patch_size * patch_size; }  // one unfolded patch (588)
    uint32_t OutputDim() const { return n_embd * static_cast<uint32_t>(1 + intermediate.size()); }  // 7680
    size_t PixelCount() const { return static_cast<size_t>(max_tiles) * channels * image_size * image_size; }

    // Throws NativeError: INVALID_PROJECTOR (not an mllama projector), INVALID_ARGUMENT (the text model
    // given as the projector), INVALID_GGUF (a missing or inconsistent key).
    static VisionHparams Read(const gguf_context * gguf, const std::string & path);
};

struct VisionBlock {
    ggml_tensor * attn_norm_w = nullptr;
    ggml_tensor * attn_norm_b = nullptr;
    ggml_tensor * wq = nullptr;  // no biases on the vision attention
    ggml_tensor * wk = nullptr;
    ggml_tensor * wv = nullptr;
    ggml_tensor * wo = nullptr;
    ggml_tensor * ffn_norm_w = nullptr;
    ggml_tensor * ffn_norm_b = nullptr;
    ggml_tensor * ffn_up_w = nullptr;  // fc1
    ggml_tensor * ffn_up_b = nullptr;
    ggml_tensor * ffn_down_w = nullptr;  // fc2
    ggml_tensor * ffn_down_b = nullptr;
    bool gated = false;  // global layers
    float attn_gate = 1.0f;  // tanh already applied by the converter
    float ffn_gate = 1.0f;
};

class VisionWeights {
  public:
    struct Options {
        bool gpu = true;
        bool widen = false;  // hold F16/BF16 matmul weights as F32 (the caller's speed-for-memory choice)
        std::function<bool(float)> progress;  // 0..1; returning false stops the load (ABORTED)
    };

    // Throws NativeError: MODEL_NOT_FOUND, INVALID_GGUF, INVALID_PROJECTOR, INVALID_ARGUMENT,
    // PROJECTOR_LOAD_FAILED, ABORTED.
    static std::unique_ptr<VisionWeights> Load(const std::string & path, const Options & options);
    ~VisionWeights();
    VisionWeights(const VisionWeights &) = delete;
    VisionWeights & operator=(const VisionWeights &) = delete;

    VisionHparams hp;
    ggml_tensor * patch_embd = nullptr;          // [p, p, C, D] F32
    ggml_tensor * class_embd = nullptr;          // [D]
    ggml_tensor * position_embd = nullptr;       // [D, N]
    ggml_tensor * tile_position_embd = nullptr;  // [T*N*D, ids]
    ggml_tensor * pre_tile_embd = nullptr;       // [T*D, ids]
    ggml_tensor * post_tile_embd = nullptr;      // [T*D, ids]
    float position_gate = 1.0f;                  // 1 - tanh(g), as stored
    float tile_position_gate = 0.0f;             // tanh(g)
    float pre_tile_gate = 0.0f;
    float post_tile_gate = 0.0f;
    ggml_tensor * pre_ln_w = nullptr;
    ggml_tensor * pre_ln_b = nullptr;
    ggml_tensor * post_ln_w = nullptr;
    ggml_tensor * post_ln_b = nullptr;
    std::vector<VisionBlock> blocks;         // local
    std::vector<VisionBlock> global_blocks;  // gated
    ggml_tensor * mm_w = nullptr;            // [D*(1+K), projection_dim]
    ggml_tensor * mm_b = nullptr;            // [projection_dim]
    ggml_backend_dev_t device = nullptr;     // where the weights live (the CPU device without a GPU)
    bool on_gpu = false;
    uint64_t n_params = 0;
    uint64_t n_bytes = 0;           // as stored in the file
    uint64_t n_resident_bytes = 0;  // as held (widened weights take 4 bytes per value)
    std::string name;

  private:
    VisionWeights() = default;
    std::vector<ggml_context *> ctxs_;
    std::vector<ggml_backend_buffer_t> buffers_;
};

}  // namespace stagebeam::mllama
