// One llama_decode call, split into n_batch chunks, with sampling and log-softmax done here so only the
// chosen tokens and the few logprobs asked for cross to JS, never a vocabulary row.
//
// The batch may hold tokens of many sequences (that is how all live candidates advance in one step).
// Each token flagged as an output is sampled with the sampler given for it, if any, and reports the
// chosen token's logprob, the top-k logprobs and the logprobs of the probe tokens.
//
// Outputs are read in parallel when a step carries several sequences (one sampler each): on a CPU the
// per-token work outside llama_decode — softmax and top-p over the whole vocabulary — grows with the
// number of candidates, and ggml's threads are idle meanwhile.
//
// Atomic: if any chunk fails or the call is cancelled, every token this call added to the KV cache is
// removed again, so the JS side's view of each sequence stays true.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "context_worker.h"
#include "handles.h"

namespace stagebeam {

struct DecodeRequest {
    std::vector<int32_t> tokens;
    std::vector<int32_t> positions;
    std::vector<int32_t> seq_ids;
    std::vector<uint8_t> outputs;
    std::vector<std::shared_ptr<SamplerHandle>> samplers;  // one per output, in order; null = no sampling
    int32_t top_k = 0;
    std::vector<int32_t> probes;
};

class DecodeWorker : public ContextWorker {
  public:
    DecodeWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, DecodeRequest request, CancelFlag cancel);

  protected:
    void Execute() override;
    Napi::Value Result(Napi::Env env) override;

  private:
    void Run();
    void Rollback();
    // Per reading thread, reused across outputs.
    struct Scratch {
        std::vector<llama_token_data> candidates;
        std::vector<int32_t> order;
    };
    struct Output {
        const float * logits;
        size_t index;
    };
    void ReadOutputs(const std::vector<Output> & outputs);
    void ReadOutput(const float * logits, size_t output_index, Scratch & scratch);

    DecodeRequest request_;
    size_t n_outputs_ = 0;
    std::vector<Scratch> scratch_;

    std::vector<int32_t> out_tokens_;
    std::vector<float> out_logprobs_;
    std::vector<int32_t> out_top_tokens_;
    std::vector<float> out_top_logprobs_;
    std::vector<float> out_probe_logprobs_;
};

}  // namespace stagebeam
