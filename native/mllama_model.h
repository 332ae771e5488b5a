// MllamaModel: the weights of an mllama (Llama 3.2 Vision) text decoder on ggml backends, for the
// addon's own mllama engine (llama.cpp has no mllama). Its vocabulary is a separate native Model loaded
// from the same file with vocab_only, so tokenizing and sampling are llama.cpp's as for any model.
#pragma once

#include <napi.h>

#include <memory>

#include "mllama_handles.h"

namespace stagebeam {

class MllamaModel : public Napi::ObjectWrap<MllamaModel> {
  public:
    static Napi::Function Init(Napi::Env env);
    // load(path, { gpuLayers }, onProgress?, cancellation?) → Promise<MllamaModel>
    static Napi::Value Load(const Napi::CallbackInfo & info);

    explicit MllamaModel(const Napi::CallbackInfo & info);
    std::shared_ptr<MllamaModelHandle> Handle(Napi::Env env) const;  // throws DISPOSED
    static MllamaModel * Unwrap(Napi::Value value);

  private:
    Napi::Value Metadata(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<MllamaModelHandle> handle_;
};

}  // namespace stagebeam
