#include "mllama_decode_worker.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>

#include "errors.h"

namespace stagebeam {

MllamaDecodeWorker::MllamaDecodeWorker(Napi::Env env, std::shared_ptr<MllamaContextHandle> context, DecodeRequest request, CancelFlag cancel)
    : BusyWorker(env, "stagebeam.mllamaDecode", std::move(context), std::move(cancel)),
      request_(std::move(request)),
      reader_(request_, context_->n_vocab, context_->output_scratch) {}

void MllamaDecodeWorker::Execute() {
    Guarded([this] {
        try {
            Run();
        } catch (...) {
            Rollback();
            throw;
        }
    });
}

void MllamaDecodeWorker::Run() {
    mllama::TextContext & text = *context_->text;
    const auto & params = text.params();
    const size_t n = request_.tokens.size();
    const size_t n_vocab_out = text.weights().hp.n_vocab_out;
    const size_t n_vocab = static_cast<size_t>(context_->n_vocab);
    std::vector<float> logits;
    std::vector<float> rows;  // output rows widened to the tokenizer's vocabulary
    size_t output_index = 0;
    for (size_t start = 0; start < n;) {
        if (cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");
        // A ubatch ends at n_ubatch tokens or max_outputs outputs, whichever comes first.
        size_t count = 0, outputs = 0;
        while (start + count < n && count < params.n_ubatch) {
            const bool out = request_.outputs[start + count] != 0;
            if (out && outputs == params.max_outputs) break;
            outputs += out ? 1 : 0;
            ++count;
        }
        const auto started = std::chrono::steady_clock::now();
        text.DecodeUbatch(request_.tokens.data() + start, request_.positions.data() + start, request_.seq_ids.data() + start,
                          request_.outputs.data() + start, static_cast<uint32_t>(count), logits, cancel_.get());
        reader_.AddForwardTime(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count());
        rows.assign(outputs * n_vocab, -std::numeric_limits<float>::infinity());
        std::vector<OutputReader::Row> read;
        for (size_t j = 0; j < outputs; ++j) {
            std::copy_n(logits.data() + j * n_vocab_out, std::min(n_vocab_out, n_vocab), rows.data() + j * n_vocab);
            read.push_back({rows.data() + j * n_vocab, output_index++});
        }
        reader_.Read(read, static_cast<size_t>(std::max(1, params.n_threads)));
        start += count;
    }
}

void MllamaDecodeWorker::Rollback() {
    std::map<int32_t, int32_t> first_position;
    for (size_t i = 0; i < request_.tokens.size(); ++i) {
        auto [it, inserted] = first_position.emplace(request_.seq_ids[i], request_.positions[i]);
        if (!inserted) it->second = std::min(it->second, request_.positions[i]);
    }
    for (auto [seq, pos] : first_position) context_->text->kv().SeqRemove(seq, pos, -1);
}

Napi::Value MllamaDecodeWorker::Result(Napi::Env env) { return reader_.ToJs(env); }

}  // namespace stagebeam
