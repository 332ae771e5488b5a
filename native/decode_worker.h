// One llama_decode call, split into n_batch chunks, with sampling and log-softmax done here so only the
// chosen tokens and the few logprobs asked for cross to JS, never a vocabulary row.
//
// The batch may hold tokens of many sequences (that is how all live candidates advance in one step).
// Each token flagged as an output is sampled with the sampler given for it, if any, and reports the
// chosen token's logprob, the top-k logprobs and the logprobs of the probe tokens.
//
// Atomic: if any chunk fails or the call is cancelled, every token this call added to the KV cache is
// removed again, so the JS side's view of each sequence stays true.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "context_worker.h"
#include "decode_request.h"
#include "handles.h"
#include "output_reader.h"

namespace stagebeam {

class DecodeWorker : public ContextWorker {
  public:
    DecodeWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, DecodeRequest request, CancelFlag cancel);

  protected:
    void Execute() override;
    Napi::Value Result(Napi::Env env) override;

  private:
    void Run();
    void Rollback();

    DecodeRequest request_;
    OutputReader reader_;
};

}  // namespace stagebeam
