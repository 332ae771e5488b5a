// MllamaVision: the mllama (Llama 3.2 Vision) vision encoder and projector on ggml, loaded from the
// projector GGUF of a converted pair. It turns one preprocessed image (pixels, aspect-ratio id, real tiles)
// into the cross-attention states the text decoder attends to; preprocessing is the TypeScript side's.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

#include "handle_counts.h"
#include "mllama/vision_context.h"
#include "mllama/vision_weights.h"

namespace stagebeam {

struct MllamaVisionHandle {
    LiveCount<HandleKind::MllamaVision> live;
    std::shared_ptr<const mllama::VisionWeights> weights;
    std::unique_ptr<mllama::VisionContext> encoder;
    std::atomic<bool> busy{false};
};

class MllamaVision : public Napi::ObjectWrap<MllamaVision> {
  public:
    static Napi::Function Init(Napi::Env env);
    // load(path, { gpu, threads, flashAttention }, onProgress?, cancellation?) → Promise<MllamaVision>
    static Napi::Value Load(const Napi::CallbackInfo & info);

    explicit MllamaVision(const Napi::CallbackInfo & info);

  private:
    Napi::Value Info(const Napi::CallbackInfo & info);
    // encode(pixels: Float32Array, aspectRatioId, realTiles, cancellation?, debug?) → Promise<Float32Array>
    Napi::Value Encode(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<MllamaVisionHandle> handle_;
};

}  // namespace stagebeam
