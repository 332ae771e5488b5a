// Base of the workers that use a llama_context exclusively (DecodeWorker, ImageEvalWorker). The context
// is marked busy from the moment the worker is made until its promise settles on the JS thread, so from
// the caller's side it is busy exactly while the call is pending; memory operations and other decodes
// are refused meanwhile.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"
#include "promise_worker.h"

namespace stagebeam {

class ContextWorker : public PromiseWorker<> {
  public:
    ContextWorker(Napi::Env env, const char * name, std::shared_ptr<ContextHandle> context, CancelFlag cancel)
        : PromiseWorker(env, name), context_(std::move(context)), cancel_(std::move(cancel)) {
        context_->busy.store(true);
    }

  protected:
    void OnOK() override {
        context_->busy.store(false);
        PromiseWorker::OnOK();
    }

    void OnError(const Napi::Error & error) override {
        context_->busy.store(false);
        PromiseWorker::OnError(error);
    }

    // Points llama.cpp's abort callback (honoured inside a decode on CPU and CUDA) at this call's
    // cancellation flag while in scope.
    class AbortScope {
      public:
        explicit AbortScope(ContextWorker & worker) : ctx_(worker.context_->ctx) {
            llama_set_abort_callback(ctx_, [](void * flag) { return static_cast<std::atomic<bool> *>(flag)->load(); }, worker.cancel_.get());
        }
        ~AbortScope() { llama_set_abort_callback(ctx_, nullptr, nullptr); }
        AbortScope(const AbortScope &) = delete;
        AbortScope & operator=(const AbortScope &) = delete;

      private:
        llama_context * ctx_;
    };

    std::shared_ptr<ContextHandle> context_;
    CancelFlag cancel_;
};

}  // namespace stagebeam
