// Base of the workers that load weights (a model, a projector): llama.cpp and libmtmd report load
// progress through a callback on the worker thread that also decides whether to go on. This forwards
// progress to an optional JS callback (at most every 1%) and stops the load when the call is cancelled.
#pragma once

#include <napi.h>

#include "handles.h"
#include "promise_worker.h"

namespace stagebeam {

class LoadWorker : public PromiseWorker<Napi::AsyncProgressQueueWorker<float>> {
  public:
    LoadWorker(Napi::Env env, const char * name, CancelFlag cancel, Napi::Function on_progress)
        : PromiseWorker(env, name), cancel_(std::move(cancel)) {
        if (!on_progress.IsEmpty()) on_progress_ = Napi::Persistent(on_progress);
    }

    // The progress callback llama.cpp and libmtmd take: (progress, this) → keep loading?
    static bool OnLoadProgress(float p, void * self) {
        auto * worker = static_cast<LoadWorker *>(self);
        if (worker->cancel_->load()) return false;
        if (worker->progress_ && (p - worker->last_sent_ >= 0.01f || p >= 1.0f)) {
            worker->last_sent_ = p;
            worker->progress_->Send(&p, 1);
        }
        return true;
    }

  protected:
    // Worker thread: the load itself, with progress reported through OnLoadProgress.
    virtual void Load() = 0;

    void Execute(const ExecutionProgress & progress) override {
        progress_ = &progress;
        Guarded([this] { Load(); });
        progress_ = nullptr;
    }

    void OnProgress(const float * data, size_t count) override {
        if (on_progress_.IsEmpty() || count == 0) return;
        Napi::HandleScope scope(Env());
        on_progress_.Call({Napi::Number::New(Env(), data[count - 1])});
    }

    CancelFlag cancel_;

  private:
    Napi::FunctionReference on_progress_;
    const ExecutionProgress * progress_ = nullptr;
    float last_sent_ = -1.0f;
};

}  // namespace stagebeam
