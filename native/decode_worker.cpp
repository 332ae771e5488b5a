#include "decode_worker.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <string>

#include "decode_failure.h"
#include "errors.h"
#include "log_capture.h"

namespace stagebeam {

DecodeWorker::DecodeWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, DecodeRequest request, CancelFlag cancel)
    : ContextWorker(env, "stagebeam.decode", std::move(context), std::move(cancel)),
      request_(std::move(request)),
      reader_(request_, llama_vocab_n_tokens(context_->model->vocab), context_->output_scratch) {}

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
        const auto started = std::chrono::steady_clock::now();
        const int32_t rc = llama_decode(h.ctx, b);
        // A GPU backend returns before the graph has run; the logits read below would wait for it.
        if (rc == 0) llama_synchronize(h.ctx);
        reader_.AddForwardTime(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        if (rc != 0) {
            Rollback();
            ThrowDecodeFailure(rc, cancel_->load());
        }
        // Logit rows are fetched here, on this thread: llama_get_logits_ith may reorder outputs.
        std::vector<OutputReader::Row> outputs;
        for (size_t i = 0; i < count; ++i) {
            if (!request_.outputs[start + i]) continue;
            const float * logits = llama_get_logits_ith(h.ctx, static_cast<int32_t>(i));
            if (!logits) throw NativeError("INTERNAL", "llama.cpp returned no logits for an output token");
            outputs.push_back({logits, output_index++});
        }
        reader_.Read(outputs, static_cast<size_t>(std::max<int32_t>(1, llama_n_threads(h.ctx))));
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

Napi::Value DecodeWorker::Result(Napi::Env env) { return reader_.ToJs(env); }

}  // namespace stagebeam
