// Base of the workers that use a llama_context exclusively (DecodeWorker, ImageEvalWorker): busy while
// pending (BusyWorker), and llama.cpp's abort callback pointed at the call's cancellation flag.
#pragma once

#include <napi.h>

#include <memory>

#include "busy_worker.h"
#include "handles.h"

namespace stagebeam {

class ContextWorker : public BusyWorker<ContextHandle> {
  public:
    using BusyWorker::BusyWorker;

  protected:
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
};

}  // namespace stagebeam
