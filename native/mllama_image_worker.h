// Puts an image into an mllama sequence: the image's cross-attention K/V go into the context's image
// store (computed once per image: a slot already holding the same image id is reused), the sequence is
// bound to that slot, and the <|image|> token is decoded at n_past — one cell and one position, as in
// transformers, its own row already seeing the image.
//
// Atomic: on failure or abort the sequence loses the binding and the cell; a slot whose K/V were not
// completely written holds no image.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "busy_worker.h"
#include "mllama_handles.h"

namespace stagebeam {

class MllamaImageWorker : public BusyWorker<MllamaContextHandle> {
  public:
    MllamaImageWorker(Napi::Env env, std::shared_ptr<MllamaContextHandle> context, std::vector<float> states, std::string id, uint32_t real_rows,
                      int32_t seq_id, int32_t n_past, CancelFlag cancel);

  protected:
    void Execute() override;
    Napi::Value Result(Napi::Env env) override;

  private:
    std::vector<float> states_;
    std::string id_;
    uint32_t real_rows_;
    int32_t seq_id_;
    int32_t n_past_;
};

}  // namespace stagebeam
