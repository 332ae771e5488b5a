// Projector: a multimodal projector (mmproj GGUF) loaded with libmtmd for one text model. Decodes
// images and splits prompts with media markers into text and image chunks. libmtmd's API is marked
// experimental and changes between releases, so it is used from this file, image.cpp and
// image_eval_worker.cpp only.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

class Projector : public Napi::ObjectWrap<Projector> {
  public:
    static Napi::Function Init(Napi::Env env);
    // load(model, path, { useGpu, threads }, cancellation?, onProgress?) → Promise<Projector>
    static Napi::Value Load(const Napi::CallbackInfo & info);
    static std::shared_ptr<ProjectorHandle> HandleOf(Napi::Value value);

    explicit Projector(const Napi::CallbackInfo & info);

  private:
    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value DecodeImage(const Napi::CallbackInfo & info);
    Napi::Value ImageFromRgb(const Napi::CallbackInfo & info);
    Napi::Value Tokenize(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<ProjectorHandle> handle_;
};

}  // namespace stagebeam
