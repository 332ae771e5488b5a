#include "output_reader.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <exception>
#include <limits>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "errors.h"

namespace stagebeam {

OutputReader::OutputReader(const DecodeRequest & request, int32_t n_vocab, OutputScratchSet & scratch)
    : request_(request), n_vocab_(n_vocab), scratch_(scratch) {
    const size_t n_outputs = request.OutputCount();
    const size_t k = static_cast<size_t>(request.top_k);
    tokens_.assign(n_outputs, -1);
    logprobs_.assign(n_outputs, std::numeric_limits<float>::quiet_NaN());
    top_tokens_.assign(n_outputs * k, -1);
    top_logprobs_.assign(n_outputs * k, -std::numeric_limits<float>::infinity());
    probe_logprobs_.assign(n_outputs * request.probes.size(), -std::numeric_limits<float>::infinity());
    if (request.return_logits) logits_.assign(n_outputs * static_cast<size_t>(n_vocab), 0.0f);
}

void OutputReader::KeepRow(const float * logits, size_t index) {
    if (logits_.empty()) return;
    std::copy(logits, logits + n_vocab_, logits_.begin() + static_cast<std::ptrdiff_t>(index * static_cast<size_t>(n_vocab_)));
}

void OutputReader::Read(const std::vector<Row> & outputs, size_t n_threads) {
    struct Timer {  // adds to read_ms_ on every way out, a thrown sampling error included
        std::chrono::steady_clock::time_point started;
        double & total;
        ~Timer() { total += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count(); }
    } timer{std::chrono::steady_clock::now(), read_ms_};
    // Parallel only when every output has its own sampler (a sampler's state is not shared across threads).
    std::unordered_set<const SamplerHandle *> seen;
    bool distinct = true;
    for (const Row & o : outputs) {
        const SamplerHandle * s = request_.samplers[o.index].get();
        if (s && !seen.insert(s).second) distinct = false;
    }
    const size_t n_workers = distinct ? std::min(std::max<size_t>(1, n_threads), outputs.size()) : 1;
    if (scratch_.size() < std::max<size_t>(1, n_workers)) scratch_.resize(std::max<size_t>(1, n_workers));
    if (n_workers <= 1) {
        for (const Row & o : outputs) ReadRow(o.logits, o.index, scratch_[0]);
        return;
    }
    std::vector<std::exception_ptr> errors(n_workers);
    auto work = [&](size_t w) {
        try {
            for (size_t j = w; j < outputs.size(); j += n_workers) ReadRow(outputs[j].logits, outputs[j].index, scratch_[w]);
        } catch (...) {
            errors[w] = std::current_exception();
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(n_workers - 1);
    std::vector<size_t> here = {0};  // shares this thread reads: its own, and any whose thread failed to start
    for (size_t w = 1; w < n_workers; ++w) {
        try {
            threads.emplace_back(work, w);
        } catch (const std::system_error &) {
            here.push_back(w);
        }
    }
    for (size_t w : here) work(w);
    for (auto & t : threads) t.join();
    for (auto & e : errors) {
        if (e) std::rethrow_exception(e);
    }
}

void OutputReader::ReadRow(const float * logits, size_t output_index, OutputScratch & scratch) {
    const int32_t n_vocab = n_vocab_;
    KeepRow(logits, output_index);
    const auto & sampler = request_.samplers[output_index];
    const bool read = output_index < request_.logprobs.size() && request_.logprobs[output_index] != 0;
    const bool greedy = sampler && sampler->greedy_only;

    // The first maximum: what llama.cpp's greedy sampler would pick, and the log-softmax's shift.
    int32_t argmax = 0;
    if (greedy || read) {
        for (int32_t t = 1; t < n_vocab; ++t) {
            if (logits[t] > logits[argmax]) argmax = t;
        }
    }

    if (greedy) {
        llama_sampler_accept(sampler->chain, argmax);
        tokens_[output_index] = argmax;
    } else if (sampler) {
        auto & candidates = scratch.candidates;
        candidates.resize(n_vocab);
        for (int32_t t = 0; t < n_vocab; ++t) candidates[t] = llama_token_data{t, logits[t], 0.0f};
        llama_token_data_array cur_p = {candidates.data(), candidates.size(), -1, false};
        try {
            llama_sampler_apply(sampler->chain, &cur_p);
        } catch (const std::exception & error) {
            throw NativeError("SAMPLING_FAILED", std::string("sampling failed: ") + error.what());
        }
        if (cur_p.selected < 0 || static_cast<size_t>(cur_p.selected) >= cur_p.size || !std::isfinite(cur_p.data[cur_p.selected].logit)) {
            throw NativeError("SAMPLING_FAILED",
                              "no token can be sampled: the grammar or logit bias rules out every token (is the grammar already complete?)");
        }
        const llama_token token = cur_p.data[cur_p.selected].id;
        try {
            llama_sampler_accept(sampler->chain, token);
        } catch (const std::exception & error) {
            throw NativeError("SAMPLING_FAILED", std::string("the sampler rejected its own token: ") + error.what());
        }
        tokens_[output_index] = token;
    }
    // Nobody reads this output's distribution: its logprob stays NaN, its top-k and probes unset.
    if (!read) return;

    // log-softmax normaliser over the model's raw distribution. Single-precision exponentials (the
    // terms are <= 1) summed in four float lanes and then in double: a pass over the whole vocabulary
    // per output, which is why it runs only for outputs whose logprobs someone reads.
    const float max_logit = logits[argmax];
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int32_t t = 0;
    for (; t + 4 <= n_vocab; t += 4) {
        for (int k = 0; k < 4; ++k) lanes[k] += std::exp(logits[t + k] - max_logit);
    }
    double sum = static_cast<double>(lanes[0]) + lanes[1] + lanes[2] + lanes[3];
    for (; t < n_vocab; ++t) sum += std::exp(logits[t] - max_logit);
    const float log_z = max_logit + static_cast<float>(std::log(sum));
    if (sampler) logprobs_[output_index] = logits[tokens_[output_index]] - log_z;

    const int32_t k = request_.top_k;
    if (k > 0) {
        auto & order = scratch.order;
        order.resize(n_vocab);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
        for (int32_t j = 0; j < k; ++j) {
            top_tokens_[output_index * k + j] = order[j];
            top_logprobs_[output_index * k + j] = logits[order[j]] - log_z;
        }
    }
    const size_t n_probes = request_.probes.size();
    for (size_t j = 0; j < n_probes; ++j) {
        probe_logprobs_[output_index * n_probes + j] = logits[request_.probes[j]] - log_z;
    }
}

Napi::Object OutputReader::ToJs(Napi::Env env) const {
    Napi::Object out = Napi::Object::New(env);
    auto tokens = Napi::Int32Array::New(env, tokens_.size());
    std::copy(tokens_.begin(), tokens_.end(), tokens.Data());
    auto logprobs = Napi::Float32Array::New(env, logprobs_.size());
    std::copy(logprobs_.begin(), logprobs_.end(), logprobs.Data());
    auto top_tokens = Napi::Int32Array::New(env, top_tokens_.size());
    std::copy(top_tokens_.begin(), top_tokens_.end(), top_tokens.Data());
    auto top_logprobs = Napi::Float32Array::New(env, top_logprobs_.size());
    std::copy(top_logprobs_.begin(), top_logprobs_.end(), top_logprobs.Data());
    auto probe_logprobs = Napi::Float32Array::New(env, probe_logprobs_.size());
    std::copy(probe_logprobs_.begin(), probe_logprobs_.end(), probe_logprobs.Data());
    out.Set("tokens", tokens);
    out.Set("logprobs", logprobs);
    out.Set("topTokens", top_tokens);
    out.Set("topLogprobs", top_logprobs);
    out.Set("probeLogprobs", probe_logprobs);
    Napi::Object timing = Napi::Object::New(env);
    timing.Set("forwardMs", forward_ms_);
    timing.Set("readMs", read_ms_);
    out.Set("timing", timing);
    if (request_.return_logits) {
        auto logits = Napi::Float32Array::New(env, logits_.size());
        std::copy(logits_.begin(), logits_.end(), logits.Data());
        out.Set("logits", logits);
    }
    return out;
}

}  // namespace stagebeam
