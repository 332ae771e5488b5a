#include "mllama_image_worker.h"

#include "errors.h"

namespace stagebeam {

MllamaImageWorker::MllamaImageWorker(Napi::Env env, std::shared_ptr<MllamaContextHandle> context, std::vector<float> states, std::string id,
                                     uint32_t real_rows, int32_t seq_id, int32_t n_past, CancelFlag cancel)
    : BusyWorker(env, "stagebeam.mllamaImage", std::move(context), std::move(cancel)),
      states_(std::move(states)),
      id_(std::move(id)),
      real_rows_(real_rows),
      seq_id_(seq_id),
      n_past_(n_past) {}

void MllamaImageWorker::Execute() {
    Guarded([this] {
        mllama::TextContext & text = *context_->text;
        const int32_t slot = text.StoreImage(id_, states_.data(), real_rows_, cancel_.get());
        states_ = {};
        text.cross()->Bind(seq_id_, n_past_, slot);
        try {
            const int32_t token = context_->image_token;
            const uint8_t no_output = 0;
            std::vector<float> logits;
            text.DecodeUbatch(&token, &n_past_, &seq_id_, &no_output, 1, logits, cancel_.get());
        } catch (...) {
            text.SeqRemove(seq_id_, n_past_, -1);
            throw;
        }
    });
}

Napi::Value MllamaImageWorker::Result(Napi::Env env) { return Napi::Number::New(env, n_past_ + 1); }

}  // namespace stagebeam
