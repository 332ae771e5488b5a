// Sampler: one llama.cpp sampler chain (bias, penalties, grammar, top-k/top-p/min-p, temperature,
// seeded draw, or greedy). One per sequence; a fork clones its parent's, grammar state included.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

class Sampler : public Napi::ObjectWrap<Sampler> {
  public:
    static Napi::Function Init(Napi::Env env);
    // new Sampler(model, options)
    explicit Sampler(const Napi::CallbackInfo & info);

    static std::shared_ptr<SamplerHandle> HandleOf(Napi::Value value);

  private:
    Napi::Value Clone(const Napi::CallbackInfo & info);
    Napi::Value Accept(const Napi::CallbackInfo & info);
    Napi::Value Reset(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<SamplerHandle> handle_;
};

}  // namespace stagebeam
