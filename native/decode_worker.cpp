#include "decode_worker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>

#include "errors.h"
#include "log_capture.h"

namespace stagebeam {

DecodeWorker::DecodeWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, DecodeRequest request, CancelFlag cancel)
    : ContextWorker(env, "stagebeam.decode", std::move(context), std::move(cancel)), request_(std::move(request)) {
    for (uint8_t o : request_.outputs) n_outputs_ += o ? 1 : 0;
    out_tokens_.assign(n_outputs_, -1);
    out_logprobs_.assign(n_outputs_, std::numeric_limits<float>::quiet_NaN());
    out_top_tokens_.assign(n_outputs_ * request_.top_k, -1);
    out_top_logprobs_.assign(n_outputs_ * request_.top_k, -std::numeric_limits<float>::infinity());
    out_probe_logprobs_.assign(n_outputs_ * request_.probes.size(), -std::numeric_limits<float>::infinity());
}

void DecodeWorker::Execute() {
    Guarded([this] { Run(); });
}

void DecodeWorker::Run() {
    ContextHandle & h = *context_;
    AbortScope abort_scope(*this);
    ClearCapturedErrors();

    const size_t n = request_.tokens.size();
    const size_t chunk = static_cast<size_t>(h.batch_capacity);
    size_t output_index = 0;
    for (size_t start = 0; start < n; start += chunk) {
        // Checked between chunks everywhere: Metal ignores the abort callback inside a decode.
        if (cancel_->load()) {
            Rollback();
            throw NativeError("ABORTED", "the operation was aborted");
        }
        const size_t count = std::min(chunk, n - start);
        llama_batch & b = h.batch;
        b.n_tokens = static_cast<int32_t>(count);
        for (size_t i = 0; i < count; ++i) {
            b.token[i] = request_.tokens[start + i];
            b.pos[i] = request_.positions[start + i];
            b.n_seq_id[i] = 1;
            b.seq_id[i][0] = request_.seq_ids[start + i];
            b.logits[i] = request_.outputs[start + i] ? 1 : 0;
        }
        const int32_t rc = llama_decode(h.ctx, b);
        if (rc != 0) {
            Rollback();
            if (rc == 2 || cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");
            if (rc == 1) {
                throw NativeError("CONTEXT_FULL",
                                  "the context has no free KV cells for this batch: dispose sequences you no longer need, "
                                  "or create the context with a larger contextSize");
            }
            std::string why = CapturedErrors();
            throw NativeError("DECODE_FAILED", "llama_decode failed with code " + std::to_string(rc) + (why.empty() ? "" : " (" + why + ")"));
        }
        // Logit rows are fetched here, on this thread: llama_get_logits_ith may reorder outputs.
        std::vector<Output> outputs;
        for (size_t i = 0; i < count; ++i) {
            if (!request_.outputs[start + i]) continue;
            const float * logits = llama_get_logits_ith(h.ctx, static_cast<int32_t>(i));
            if (!logits) throw NativeError("INTERNAL", "llama.cpp returned no logits for an output token");
            outputs.push_back({logits, output_index++});
        }
        ReadOutputs(outputs);
    }
}

void DecodeWorker::ReadOutputs(const std::vector<Output> & outputs) {
    // Parallel only when every output has its own sampler (a sampler's state is not shared across threads).
    std::unordered_set<const SamplerHandle *> seen;
    bool distinct = true;
    for (const Output & o : outputs) {
        const SamplerHandle * s = request_.samplers[o.index].get();
        if (s && !seen.insert(s).second) distinct = false;
    }
    const size_t n_threads = std::max<int32_t>(1, llama_n_threads(context_->ctx));
    const size_t n_workers = distinct ? std::min(n_threads, outputs.size()) : 1;
    if (scratch_.size() < std::max<size_t>(1, n_workers)) scratch_.resize(std::max<size_t>(1, n_workers));
    if (n_workers <= 1) {
        for (const Output & o : outputs) ReadOutput(o.logits, o.index, scratch_[0]);
        return;
    }
    std::vector<std::exception_ptr> errors(n_workers);
    auto work = [&](size_t w) {
        try {
            for (size_t j = w; j < outputs.size(); j += n_workers) ReadOutput(outputs[j].logits, outputs[j].index, scratch_[w]);
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

void DecodeWorker::Rollback() {
    std::map<int32_t, int32_t> first_position;
    for (size_t i = 0; i < request_.tokens.size(); ++i) {
        auto [it, inserted] = first_position.emplace(request_.seq_ids[i], request_.positions[i]);
        if (!inserted) it->second = std::min(it->second, request_.positions[i]);
    }
    llama_memory_t mem = llama_get_memory(context_->ctx);
    for (auto [seq, pos] : first_position) llama_memory_seq_rm(mem, seq, pos, -1);
}

void DecodeWorker::ReadOutput(const float * logits, size_t output_index, Scratch & scratch) {
    const int32_t n_vocab = llama_vocab_n_tokens(context_->model->vocab);

    // log-softmax normaliser over the model's raw distribution. Single-precision exponentials (the
    // terms are <= 1) summed in four float lanes and then in double: this runs once per output over
    // the whole vocabulary, so it is on the per-token path.
    int32_t argmax = 0;
    for (int32_t t = 1; t < n_vocab; ++t) {
        if (logits[t] > logits[argmax]) argmax = t;
    }
    const float max_logit = logits[argmax];
    float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int32_t t = 0;
    for (; t + 4 <= n_vocab; t += 4) {
        for (int k = 0; k < 4; ++k) lanes[k] += std::exp(logits[t + k] - max_logit);
    }
    double sum = static_cast<double>(lanes[0]) + lanes[1] + lanes[2] + lanes[3];
    for (; t < n_vocab; ++t) sum += std::exp(logits[t] - max_logit);
    const float log_z = max_logit + static_cast<float>(std::log(sum));

    const auto & sampler = request_.samplers[output_index];
    if (sampler && sampler->greedy_only) {
        // What llama.cpp's greedy sampler would pick (the first maximum), without the candidate array.
        llama_sampler_accept(sampler->chain, argmax);
        out_tokens_[output_index] = argmax;
        out_logprobs_[output_index] = logits[argmax] - log_z;
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
        out_tokens_[output_index] = token;
        out_logprobs_[output_index] = logits[token] - log_z;
    }

    const int32_t k = request_.top_k;
    if (k > 0) {
        auto & order = scratch.order;
        order.resize(n_vocab);
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(),
                          [logits](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
        for (int32_t j = 0; j < k; ++j) {
            out_top_tokens_[output_index * k + j] = order[j];
            out_top_logprobs_[output_index * k + j] = logits[order[j]] - log_z;
        }
    }
    const size_t n_probes = request_.probes.size();
    for (size_t j = 0; j < n_probes; ++j) {
        out_probe_logprobs_[output_index * n_probes + j] = logits[request_.probes[j]] - log_z;
    }
}

Napi::Value DecodeWorker::Result(Napi::Env env) {
    Napi::Object out = Napi::Object::New(env);
    auto tokens = Napi::Int32Array::New(env, out_tokens_.size());
    std::copy(out_tokens_.begin(), out_tokens_.end(), tokens.Data());
    auto logprobs = Napi::Float32Array::New(env, out_logprobs_.size());
    std::copy(out_logprobs_.begin(), out_logprobs_.end(), logprobs.Data());
    auto top_tokens = Napi::Int32Array::New(env, out_top_tokens_.size());
    std::copy(out_top_tokens_.begin(), out_top_tokens_.end(), top_tokens.Data());
    auto top_logprobs = Napi::Float32Array::New(env, out_top_logprobs_.size());
    std::copy(out_top_logprobs_.begin(), out_top_logprobs_.end(), top_logprobs.Data());
    auto probe_logprobs = Napi::Float32Array::New(env, out_probe_logprobs_.size());
    std::copy(out_probe_logprobs_.begin(), out_probe_logprobs_.end(), probe_logprobs.Data());
    out.Set("tokens", tokens);
    out.Set("logprobs", logprobs);
    out.Set("topTokens", top_tokens);
    out.Set("topLogprobs", top_logprobs);
    out.Set("probeLogprobs", probe_logprobs);
    return out;
}

}  // namespace stagebeam
