#include "decode_request.h"

#include <algorithm>
#include <string>

#include "arguments.h"
#include "errors.h"
#include "sampler.h"

namespace stagebeam {

size_t DecodeRequest::OutputCount() const {
    size_t n = 0;
    for (uint8_t o : outputs) n += o ? 1 : 0;
    return n;
}

DecodeRequest ParseDecodeRequest(const Napi::CallbackInfo & info, const DecodeLimits & limits) {
    Napi::Env env = info.Env();
    using namespace arguments;
    Napi::Object o = ObjectOr(info, 0);
    DecodeRequest r;
    r.tokens = Int32s(env, o.Get("tokens"), "tokens");
    r.positions = Int32s(env, o.Get("positions"), "positions");
    r.seq_ids = Int32s(env, o.Get("seqIds"), "seqIds");
    r.outputs = Uint8s(env, o.Get("outputs"), "outputs");
    const size_t n = r.tokens.size();
    if (n == 0) Throw(env, "INVALID_ARGUMENT", "decode needs at least one token");
    if (r.positions.size() != n || r.seq_ids.size() != n || r.outputs.size() != n) {
        Throw(env, "INVALID_ARGUMENT", "tokens, positions, seqIds and outputs must have the same length");
    }
    const int32_t n_vocab = limits.n_vocab;
    for (size_t i = 0; i < n; ++i) {
        if (r.tokens[i] < 0 || r.tokens[i] >= n_vocab) {
            Throw(env, "INVALID_TOKEN", "token id " + std::to_string(r.tokens[i]) + " is out of range: the vocabulary has " + std::to_string(n_vocab) + " tokens");
        }
        if (r.tokens[i] == limits.reserved_token) {
            Throw(env, "INVALID_TOKEN", "token id " + std::to_string(r.tokens[i]) + " cannot be evaluated as text: " + limits.reserved_why);
        }
        if (r.seq_ids[i] < 0 || r.seq_ids[i] >= limits.n_seq) {
            Throw(env, "INVALID_SEQUENCE", "sequence id " + std::to_string(r.seq_ids[i]) + " is out of range: the context has " + std::to_string(limits.n_seq) + " sequences");
        }
        if (r.positions[i] < 0 || r.positions[i] >= limits.n_ctx) {
            Throw(env, "CONTEXT_FULL", "position " + std::to_string(r.positions[i]) + " is beyond the context size " + std::to_string(limits.n_ctx) +
                                           ": create the context with a larger contextSize");
        }
    }
    const size_t n_outputs = r.OutputCount();

    Napi::Value samplers = o.Get("samplers");
    if (!samplers.IsUndefined() && !samplers.IsNull()) {
        if (!samplers.IsArray() || samplers.As<Napi::Array>().Length() != n_outputs) {
            Throw(env, "INVALID_ARGUMENT", "samplers must be an array with one entry (Sampler or null) per output");
        }
        Napi::Array a = samplers.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
            Napi::Value s = a.Get(i);
            r.samplers.push_back(s.IsNull() || s.IsUndefined() ? nullptr : Sampler::HandleOf(s));
        }
    } else {
        r.samplers.assign(n_outputs, nullptr);
    }
    for (const auto & s : r.samplers) {
        if (s && s->model.get() != limits.vocab_model) Throw(env, "INVALID_ARGUMENT", "a sampler was made for a different model");
    }
    r.top_k = static_cast<int32_t>(Integer(o, "topK", 0, 0, std::min(n_vocab, 1024)));
    if (Has(o, "probes")) {
        r.probes = Int32s(env, o.Get("probes"), "probes");
        for (int32_t t : r.probes) {
            if (t < 0 || t >= n_vocab) Throw(env, "INVALID_TOKEN", "probe token id " + std::to_string(t) + " is out of range");
        }
    }
    if (Has(o, "logprobs")) {
        r.logprobs = Uint8s(env, o.Get("logprobs"), "logprobs");
        if (r.logprobs.size() != n_outputs) Throw(env, "INVALID_ARGUMENT", "logprobs must have one entry (0 or 1) per output");
    } else {
        r.logprobs.assign(n_outputs, r.top_k > 0 || !r.probes.empty() ? 1 : 0);
    }
    r.return_logits = Boolean(o, "returnLogits", false);
    return r;
}

}  // namespace stagebeam
