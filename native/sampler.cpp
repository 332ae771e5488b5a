#include "sampler.h"

#include <cmath>
#include <string>
#include <vector>

#include "addon_data.h"
#include "arguments.h"
#include "errors.h"
#include "log_capture.h"
#include "model.h"

namespace stagebeam {

namespace {

// Builds the chain in llama.cpp's usual order: logit bias, penalties, grammar, then truncation
// (top-k, top-p, min-p), temperature and a seeded draw; temperature <= 0 means greedy.
llama_sampler * BuildChain(Napi::Env env, const ModelHandle & model, const Napi::Object & o, bool * greedy_only) {
    using namespace arguments;
    const int32_t n_vocab = llama_vocab_n_tokens(model.vocab);
    const double temperature = Number(o, "temperature", 0.0, 0.0, 1e6);
    const int64_t top_k = Integer(o, "topK", 0, 0, n_vocab);
    const double top_p = Number(o, "topP", 1.0, 0.0, 1.0);
    const double min_p = Number(o, "minP", 0.0, 0.0, 1.0);
    const double repeat_penalty = Number(o, "repeatPenalty", 1.0, 1e-6, 1e6);
    const double frequency_penalty = Number(o, "frequencyPenalty", 0.0, -1e6, 1e6);
    const double presence_penalty = Number(o, "presencePenalty", 0.0, -1e6, 1e6);
    const int64_t penalty_last_n = Integer(o, "penaltyLastN", 64, 0, 1 << 20);
    const int64_t seed = Integer(o, "seed", LLAMA_DEFAULT_SEED, 0, 0xFFFFFFFFLL);

    std::vector<llama_logit_bias> biases;
    if (Has(o, "logitBias")) {
        Napi::Value v = o.Get("logitBias");
        if (!v.IsArray()) Throw(env, "INVALID_ARGUMENT", "logitBias must be an array of [token, bias] pairs");
        Napi::Array a = v.As<Napi::Array>();
        for (uint32_t i = 0; i < a.Length(); ++i) {
            Napi::Value pair = a.Get(i);
            if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2 || !pair.As<Napi::Array>().Get(0u).IsNumber() ||
                !pair.As<Napi::Array>().Get(1u).IsNumber()) {
                Throw(env, "INVALID_ARGUMENT", "logitBias entries must be [token, bias] number pairs");
            }
            double token = pair.As<Napi::Array>().Get(0u).As<Napi::Number>().DoubleValue();
            double bias = pair.As<Napi::Array>().Get(1u).As<Napi::Number>().DoubleValue();
            if (token != std::floor(token) || token < 0 || token >= n_vocab) {
                Throw(env, "INVALID_TOKEN", "logitBias token " + std::to_string(token) + " is out of range");
            }
            if (std::isnan(bias)) Throw(env, "INVALID_ARGUMENT", "logitBias values must be numbers (use -Infinity to forbid a token)");
            biases.push_back({static_cast<llama_token>(token), static_cast<float>(bias)});
        }
    }

    std::string grammar, grammar_root = "root";
    if (Has(o, "grammar")) {
        if (!o.Get("grammar").IsString()) Throw(env, "INVALID_ARGUMENT", "grammar must be a GBNF string");
        grammar = o.Get("grammar").As<Napi::String>().Utf8Value();
    }
    if (Has(o, "grammarRoot")) {
        if (!o.Get("grammarRoot").IsString()) Throw(env, "INVALID_ARGUMENT", "grammarRoot must be a string");
        grammar_root = o.Get("grammarRoot").As<Napi::String>().Utf8Value();
    }

    llama_sampler_chain_params params = llama_sampler_chain_default_params();
    params.no_perf = true;
    llama_sampler * chain = llama_sampler_chain_init(params);
    if (!biases.empty()) {
        llama_sampler_chain_add(chain, llama_sampler_init_logit_bias(n_vocab, static_cast<int32_t>(biases.size()), biases.data()));
    }
    if (repeat_penalty != 1.0 || frequency_penalty != 0.0 || presence_penalty != 0.0) {
        llama_sampler_chain_add(chain, llama_sampler_init_penalties(n_vocab, static_cast<int32_t>(penalty_last_n), static_cast<float>(repeat_penalty),
                                                                    static_cast<float>(frequency_penalty), static_cast<float>(presence_penalty)));
    }
    if (!grammar.empty()) {
        ClearCapturedErrors();
        llama_sampler * g = llama_sampler_init_grammar(model.vocab, grammar.c_str(), grammar_root.c_str());
        if (!g) {
            llama_sampler_free(chain);
            std::string why = CapturedErrors();
            Throw(env, "INVALID_GRAMMAR", "the GBNF grammar does not parse" + (why.empty() ? std::string() : " (" + why + ")") +
                                              ": check its syntax and that rule '" + grammar_root + "' exists");
        }
        llama_sampler_chain_add(chain, g);
    }
    if (temperature <= 0.0) {
        llama_sampler_chain_add(chain, llama_sampler_init_greedy());
        *greedy_only = llama_sampler_chain_n(chain) == 1;
        return chain;
    }
    if (top_k > 0) llama_sampler_chain_add(chain, llama_sampler_init_top_k(static_cast<int32_t>(top_k)));
    if (top_p < 1.0) llama_sampler_chain_add(chain, llama_sampler_init_top_p(static_cast<float>(top_p), 1));
    if (min_p > 0.0) llama_sampler_chain_add(chain, llama_sampler_init_min_p(static_cast<float>(min_p), 1));
    llama_sampler_chain_add(chain, llama_sampler_init_temp(static_cast<float>(temperature)));
    llama_sampler_chain_add(chain, llama_sampler_init_dist(static_cast<uint32_t>(seed)));
    return chain;
}

}  // namespace

Napi::Function Sampler::Init(Napi::Env env) {
    return DefineClass(env, "Sampler",
                       {
                           InstanceMethod<&Sampler::Clone>("clone"),
                           InstanceMethod<&Sampler::Accept>("accept"),
                           InstanceMethod<&Sampler::Reset>("reset"),
                           InstanceMethod<&Sampler::Dispose>("dispose"),
                       });
}

Sampler::Sampler(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Sampler>(info) {
    Napi::Env env = info.Env();
    if (info.Length() > 0 && info[0].IsExternal()) {  // from clone()
        handle_ = HandleFromExternal<SamplerHandle>(info[0]);
        return;
    }
    if (info.Length() < 1) Throw(env, "INVALID_ARGUMENT", "new Sampler(model, options)");
    auto model = Model::Unwrap(info[0])->Handle(env);
    Napi::Object options = arguments::ObjectOr(info, 1);
    bool greedy_only = false;
    llama_sampler * chain = BuildChain(env, *model, options, &greedy_only);
    handle_ = std::make_shared<SamplerHandle>(model, chain, greedy_only);
}

std::shared_ptr<SamplerHandle> Sampler::HandleOf(Napi::Value value) {
    Napi::Env env = value.Env();
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).sampler.Value())) {
        Throw(env, "INVALID_ARGUMENT", "expected a native Sampler");
    }
    auto * self = Napi::ObjectWrap<Sampler>::Unwrap(value.As<Napi::Object>());
    if (!self->handle_) Throw(env, "DISPOSED", "the sampler has been disposed");
    return self->handle_;
}

Napi::Value Sampler::Clone(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = HandleOf(Value());
    llama_sampler * copy = llama_sampler_clone(h->chain);
    if (!copy) Throw(env, "INTERNAL", "llama.cpp could not clone this sampler");
    return NewWrapped(Data(env).sampler, env, std::make_shared<SamplerHandle>(h->model, copy, h->greedy_only));
}

// accept(tokens: Int32Array): advance penalties and grammar over tokens that were placed rather than
// sampled (forced text), so the sampler's state matches the sequence.
Napi::Value Sampler::Accept(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = HandleOf(Value());
    std::vector<int32_t> tokens = arguments::Int32s(env, info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    const int32_t n_vocab = llama_vocab_n_tokens(h->model->vocab);
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) Throw(env, "INVALID_TOKEN", "token id " + std::to_string(t) + " is out of range");
    }
    try {
        for (int32_t t : tokens) llama_sampler_accept(h->chain, t);
    } catch (const std::exception & error) {
        // llama.cpp's grammar throws when a token cannot continue the grammar.
        Throw(env, "GRAMMAR_REJECTED", std::string("the sampler's grammar does not allow these tokens (") + error.what() + ")");
    }
    return env.Undefined();
}

Napi::Value Sampler::Reset(const Napi::CallbackInfo & info) {
    llama_sampler_reset(HandleOf(Value())->chain);
    return info.Env().Undefined();
}

Napi::Value Sampler::Dispose(const Napi::CallbackInfo & info) {
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace stagebeam
