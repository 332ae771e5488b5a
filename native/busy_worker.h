// Base of the workers that use a context exclusively (either engine's). The context is marked busy from
// the moment the worker is made until its promise settles on the JS thread, so from the caller's side it
// is busy exactly while the call is pending; memory operations and other decodes are refused meanwhile.
#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"
#include "promise_worker.h"

namespace stagebeam {

template <typename Handle>
class BusyWorker : public PromiseWorker<> {
  public:
    BusyWorker(Napi::Env env, const char * name, std::shared_ptr<Handle> context, CancelFlag cancel)
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

    std::shared_ptr<Handle> context_;
    CancelFlag cancel_;
};

}  // namespace stagebeam
