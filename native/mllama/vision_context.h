// The compute side of the vision encoder: backends, a scheduler, CPU threads, and one encode. Compute
// buffers are reserved at creation for the one graph shape there is (every image is max_tiles tiles), so
// a machine without the memory fails at load, not at the first image. Used from one thread at a time (the
// N-API object's busy flag).
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ggml-backend.h"
#include "vision_weights.h"

namespace stagebeam::mllama {

class VisionContext {
  public:
    // Throws NativeError(PROJECTOR_LOAD_FAILED) when backends or buffers cannot be set up, and
    // INVALID_ARGUMENT when `attention_chunk` (query rows per softmax chunk; 0: VisionAttentionChunk's)
    // does not divide tiles × padded positions.
    VisionContext(std::shared_ptr<const VisionWeights> weights, int32_t n_threads, bool flash_attn = false, int64_t attention_chunk = 0);
    ~VisionContext();
    VisionContext(const VisionContext &) = delete;
    VisionContext & operator=(const VisionContext &) = delete;

    const VisionWeights & weights() const { return *weights_; }
    int32_t threads() const { return n_threads_; }
    bool flash_attn() const { return flash_attn_; }
    int64_t attention_chunk() const { return chunk_; }
    // Bytes of the compute buffers reserved at creation on each backend (GPU first when there is one).
    // Recorded then, so info() may ask while an encode runs on another thread.
    const std::vector<std::pair<std::string, size_t>> & ComputeBuffers() const { return compute_buffers_; }

    // pixels: hp.PixelCount() floats, [tiles, C, S, S]. Returns the cross-attention states,
    // [tiles × positions, projection_dim] row-major. `padding_mask` false is for tests only.
    // Throws INVALID_ARGUMENT, ABORTED or IMAGE_ENCODE_FAILED.
    std::vector<float> Encode(const float * pixels, size_t n_pixels, int32_t aspect_ratio_id, int32_t real_tiles, const std::atomic<bool> * cancel,
                              bool padding_mask = true);

  private:
    void Init();
    void Free();

    std::shared_ptr<const VisionWeights> weights_;
    int32_t n_threads_ = 1;
    bool flash_attn_ = false;
    int64_t chunk_ = 0;
    ggml_backend_t cpu_ = nullptr;
    ggml_backend_t gpu_ = nullptr;
    ggml_backend_sched_t sched_ = nullptr;
    std::vector<uint8_t> graph_memory_;
    std::vector<std::pair<std::string, size_t>> compute_buffers_;
    // CPU backend functions reached through the registry (the CPU backend is a loadable module).
    void (*set_n_threads_)(ggml_backend_t, int) = nullptr;
    void (*set_abort_)(ggml_backend_t, ggml_abort_callback, void *) = nullptr;
};

}  // namespace stagebeam::mllama
