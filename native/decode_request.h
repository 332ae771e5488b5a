// A decode call as JS sends it ({ tokens, positions, seqIds, outputs, samplers, logprobs, topK, probes }), parsed
// and checked once for both engines: the llama.cpp context and the mllama context take the same request,
// and everything either would otherwise assert on (or index out of range with) is refused here, on the
// JS thread, as a typed error.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "handles.h"

namespace stagebeam {

struct DecodeRequest {
    std::vector<int32_t> tokens;
    std::vector<int32_t> positions;
    std::vector<int32_t> seq_ids;
    std::vector<uint8_t> outputs;
    std::vector<std::shared_ptr<SamplerHandle>> samplers;  // one per output, in order; null = no sampling
    // One per output, in order: read this output's distribution — the log-softmax normaliser over the
    // whole vocabulary, then the sampled token's logprob, the top-k and the probes. An output nobody
    // reads skips that pass (a greedy one costs an argmax only). Absent in the request: every output
    // when topK or probes are asked, none otherwise.
    std::vector<uint8_t> logprobs;
    int32_t top_k = 0;
    std::vector<int32_t> probes;
    // Also return every output's whole logit row (parity tests compare them with a reference; a search
    // never asks for this).
    bool return_logits = false;

    size_t OutputCount() const;
};

struct DecodeLimits {
    int32_t n_vocab;     // valid token ids are [0, n_vocab)
    int32_t n_seq;       // valid sequence ids are [0, n_seq)
    int32_t n_ctx;       // valid positions are [0, n_ctx)
    const ModelHandle * vocab_model;  // samplers must have been made for this model
    int32_t reserved_token = -1;      // a token that may not be decoded as text (mllama's <|image|>), or -1
    const char * reserved_why = "";
};

// Parses info[0] (the request object); throws INVALID_ARGUMENT, INVALID_TOKEN, INVALID_SEQUENCE or
// CONTEXT_FULL naming what is wrong.
DecodeRequest ParseDecodeRequest(const Napi::CallbackInfo & info, const DecodeLimits & limits);

}  // namespace stagebeam
