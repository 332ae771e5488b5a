#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

// Chunks: the result of tokenizing a prompt with images. describe() lists them for JS; image chunks
// are evaluated by Context.evalImage.
class Chunks : public Napi::ObjectWrap<Chunks> {
  public:
    static Napi::Function Init(Napi::Env env);
    static std::shared_ptr<ChunksHandle> HandleOf(Napi::Value value);
    explicit Chunks(const Napi::CallbackInfo & info);

  private:
    Napi::Value Describe(const Napi::CallbackInfo & info);

    std::shared_ptr<ChunksHandle> handle_;
};

}  // namespace stagebeam
