// Cancellation: a flag JS raises (from an AbortSignal) and native workers poll between steps, and that
// llama.cpp's abort callback reads during a decode on backends that support it (CPU, CUDA; not Metal).
#pragma once

#include <napi.h>

#include "handles.h"

namespace stagebeam {

class Cancellation : public Napi::ObjectWrap<Cancellation> {
  public:
    static Napi::Function Init(Napi::Env env);
    explicit Cancellation(const Napi::CallbackInfo & info);

    // The flag of an optional Cancellation argument; a fresh, never-raised flag for undefined/null.
    static CancelFlag FlagOf(Napi::Value value);

  private:
    Napi::Value Cancel(const Napi::CallbackInfo & info);
    Napi::Value IsCancelled(const Napi::CallbackInfo & info);

    CancelFlag flag_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace stagebeam
