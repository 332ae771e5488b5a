// What a decode call returns for its outputs, computed from logit rows on the worker thread: the
// sampled token (with the sequence's own sampler) and, for the outputs the request marks in `logprobs`,
// its logprob under the raw distribution, the top-k logprobs and the logprobs of probe tokens (NaN,
// -1 and -inf elsewhere). Only these cross to JS, never a vocabulary row.
//
// Shared by both engines' decode workers: llama.cpp hands out logit rows through llama_get_logits_ith,
// the mllama engine from its own output tensor; both give rows of the vocabulary's full width.
//
// Rows are read in parallel when a step carries several sequences (one sampler each): on a CPU the
// per-token work outside the graph — softmax and top-p over the whole vocabulary — grows with the number
// of candidates, and the compute threads are idle meanwhile.
#pragma once

#include <napi.h>

#include <vector>

#include "decode_request.h"
#include "llama.h"
#include "output_scratch.h"

namespace stagebeam {

class OutputReader {
  public:
    // n_vocab: the width of every logit row handed to Read; scratch: the context's reading buffers,
    // which this reader uses (and grows) for the length of one decode call.
    OutputReader(const DecodeRequest & request, int32_t n_vocab, OutputScratchSet & scratch);

    struct Row {
        const float * logits;
        size_t index;  // the output's index in the request (its sampler, its place in the results)
    };
    // Reads rows, on up to n_threads threads when every row has its own sampler.
    void Read(const std::vector<Row> & rows, size_t n_threads);

    // Time the worker spent in the forward pass (llama_decode and its synchronisation, or the mllama
    // graph): with Read's own time it is returned as `timing`, so the per-step overhead — everything a
    // step costs beyond the forward pass — can be measured on the same batch (bench/step-overhead.mjs).
    void AddForwardTime(double ms) { forward_ms_ += ms; }

    Napi::Object ToJs(Napi::Env env) const;

    // What Read produced, per output in request order, for a caller that reports it otherwise than
    // through ToJs (DecodeRunWorker, one step at a time).
    const std::vector<int32_t> & tokens() const { return tokens_; }
    const std::vector<float> & logprobs() const { return logprobs_; }
    double read_ms() const { return read_ms_; }

  private:
    void ReadRow(const float * logits, size_t index, OutputScratch & scratch);
    void KeepRow(const float * logits, size_t index);

    const DecodeRequest & request_;
    const int32_t n_vocab_;
    OutputScratchSet & scratch_;

    std::vector<int32_t> tokens_;
    std::vector<float> logprobs_;
    std::vector<int32_t> top_tokens_;
    std::vector<float> top_logprobs_;
    std::vector<float> probe_logprobs_;
    std::vector<float> logits_;  // request.return_logits: n_outputs rows of n_vocab
    double forward_ms_ = 0.0;
    double read_ms_ = 0.0;
};

}  // namespace stagebeam
