// Context: a llama_context with one unified KV cache shared by up to `sequences` sequences, so a fork
// (seqCopy) only tags the parent's cells with the child's id. Memory operations are synchronous and
// cheap; decode() runs on a worker thread.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

class Context : public Napi::ObjectWrap<Context> {
  public:
    static Napi::Function Init(Napi::Env env);
    // create(model, options) → Promise<Context>
    static Napi::Value Create(const Napi::CallbackInfo & info);

    explicit Context(const Napi::CallbackInfo & info);

  private:
    std::shared_ptr<ContextHandle> Idle(Napi::Env env);  // throws DISPOSED or CONTEXT_BUSY
    int32_t SeqArg(const Napi::CallbackInfo & info, size_t index, const ContextHandle & h);

    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value SeqCopy(const Napi::CallbackInfo & info);
    Napi::Value SeqRemove(const Napi::CallbackInfo & info);
    Napi::Value SeqPosMin(const Napi::CallbackInfo & info);
    Napi::Value SeqPosMax(const Napi::CallbackInfo & info);
    Napi::Value Clear(const Napi::CallbackInfo & info);
    Napi::Value Decode(const Napi::CallbackInfo & info);
    Napi::Value DecodeRun(const Napi::CallbackInfo & info);
    Napi::Value EvalImage(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<ContextHandle> handle_;
};

}  // namespace stagebeam
