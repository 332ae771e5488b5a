// Model: a loaded GGUF (weights + vocabulary). Loading runs on a worker thread with progress and abort.
// Also the vocabulary operations (tokenize, detokenize, pieces) and the metadata the JS layer reports.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

class Model : public Napi::ObjectWrap<Model> {
  public:
    static Napi::Function Init(Napi::Env env);
    // load(path, { gpuLayers, useMmap, vocabularyOnlyAs }, onProgress?, cancellation?) → Promise<Model>
    static Napi::Value Load(const Napi::CallbackInfo & info);

    explicit Model(const Napi::CallbackInfo & info);

    // Throws DISPOSED after dispose().
    std::shared_ptr<ModelHandle> Handle(Napi::Env env) const;
    static Model * Unwrap(Napi::Value value);

  private:
    Napi::Value Metadata(const Napi::CallbackInfo & info);
    Napi::Value Tokenize(const Napi::CallbackInfo & info);
    Napi::Value Detokenize(const Napi::CallbackInfo & info);
    Napi::Value TokenPiece(const Napi::CallbackInfo & info);
    Napi::Value IsEog(const Napi::CallbackInfo & info);
    Napi::Value ApplyChatTemplate(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<ModelHandle> handle_;
};

}  // namespace stagebeam
