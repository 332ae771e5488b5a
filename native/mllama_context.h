// MllamaContext: the mllama engine's context, with exactly the shape of the llama.cpp Context (info,
// seqCopy, seqRemove, seqPosMin, seqPosMax, clear, decode, evalImage, dispose), so the TypeScript
// Context, Sequence, scheduler, generation, prefix cache and search run on it unchanged.
#pragma once

#include <napi.h>

#include <memory>

#include "mllama_handles.h"

namespace stagebeam {

class MllamaContext : public Napi::ObjectWrap<MllamaContext> {
  public:
    static Napi::Function Init(Napi::Env env);
    // create(mllamaModel, vocabModel, options) → Promise<MllamaContext>
    static Napi::Value Create(const Napi::CallbackInfo & info);

    explicit MllamaContext(const Napi::CallbackInfo & info);

  private:
    std::shared_ptr<MllamaContextHandle> Idle(Napi::Env env);  // throws DISPOSED or CONTEXT_BUSY
    int32_t SeqArg(const Napi::CallbackInfo & info, size_t index, const MllamaContextHandle & h);

    Napi::Value Info(const Napi::CallbackInfo & info);
    Napi::Value SeqCopy(const Napi::CallbackInfo & info);
    Napi::Value SeqRemove(const Napi::CallbackInfo & info);
    Napi::Value SeqPosMin(const Napi::CallbackInfo & info);
    Napi::Value SeqPosMax(const Napi::CallbackInfo & info);
    Napi::Value Clear(const Napi::CallbackInfo & info);
    Napi::Value Decode(const Napi::CallbackInfo & info);
    Napi::Value EvalImage(const Napi::CallbackInfo & info);
    Napi::Value Dispose(const Napi::CallbackInfo & info);

    std::shared_ptr<MllamaContextHandle> handle_;
};

}  // namespace stagebeam
