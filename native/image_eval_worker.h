// Encodes one image chunk with the projector and decodes its embeddings into a sequence at n_past
// (positions laid out by libmtmd, 2-D for M-RoPE models). Like DecodeWorker it is atomic: on failure or
// abort the sequence loses whatever this call added.
#pragma once

#include <napi.h>

#include <memory>

#include "context_worker.h"
#include "handles.h"

namespace stagebeam {

class ImageEvalWorker : public ContextWorker {
  public:
    ImageEvalWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, std::shared_ptr<ChunksHandle> chunks, size_t index,
                    int32_t seq_id, int32_t n_past, CancelFlag cancel);

  protected:
    void Execute() override;
    Napi::Value Result(Napi::Env env) override;

  private:
    void Run();

    std::shared_ptr<ChunksHandle> chunks_;
    size_t index_;
    int32_t seq_id_;
    int32_t n_past_;
    int32_t new_n_past_ = 0;
};

}  // namespace stagebeam
