// Base of the workers that use a context exclusively (either engine's). The context is marked busy from
// the moment the worker is made until its promise settles on the JS thread, so from the caller's side it
// is busy exactly while the call is pending; memory operations and other decodes are refused meanwhile.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"
#include "promise_worker.h"

namespace stagebeam {

// Base: Napi::AsyncWorker, or Napi::AsyncProgressQueueWorker for a call that reports steps as it goes
// (DecodeRunWorker).
template <typename Handle, typename Base = Napi::AsyncWorker>
class BusyWorker : public PromiseWorker<Base> {
  public:
    BusyWorker(Napi::Env env, const char * name, std::shared_ptr<Handle> context, CancelFlag cancel)
        : PromiseWorker<Base>(env, name), context_(std::move(context)), cancel_(std::move(cancel)) {
        context_->busy.store(true);
    }

  protected:
    void OnOK() override {
        context_->busy.store(false);
        PromiseWorker<Base>::OnOK();
    }

    void OnError(const Napi::Error & error) override {
        context_->busy.store(false);
        PromiseWorker<Base>::OnError(error);
    }

    std::shared_ptr<Handle> context_;
    CancelFlag cancel_;
};

}  // namespace stagebeam
