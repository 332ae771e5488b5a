#include "image_eval_worker.h"

#include <string>

#include "errors.h"
#include "log_capture.h"
#include "mtmd-helper.h"

namespace stagebeam {

ImageEvalWorker::ImageEvalWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, std::shared_ptr<ChunksHandle> chunks, size_t index,
                                 int32_t seq_id, int32_t n_past, CancelFlag cancel)
    : ContextWorker(env, "stagebeam.evalImage", std::move(context), std::move(cancel)), chunks_(std::move(chunks)), index_(index),
      seq_id_(seq_id), n_past_(n_past) {}

void ImageEvalWorker::Execute() {
    Guarded([this] { Run(); });
}

void ImageEvalWorker::Run() {
    ContextHandle & h = *context_;
    ProjectorHandle & p = *chunks_->projector;
    const mtmd_input_chunk * chunk = mtmd_input_chunks_get(chunks_->chunks, index_);
    ClearCapturedErrors();
    if (cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");

    std::lock_guard<std::mutex> lock(p.encode_mutex);
    if (mtmd_encode_chunk(p.ctx, chunk) != 0) {
        std::string why = CapturedErrors();
        throw NativeError("IMAGE_ENCODE_FAILED", "the projector failed to encode the image" + (why.empty() ? "" : " (" + why + ")"));
    }
    if (cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");

    llama_pos new_n_past = n_past_;
    int32_t rc;
    {
        AbortScope abort_scope(*this);
        rc = mtmd_helper_decode_image_chunk(p.ctx, h.ctx, chunk, mtmd_get_output_embd(p.ctx), n_past_, seq_id_,
                                            static_cast<int32_t>(llama_n_batch(h.ctx)), &new_n_past, nullptr, nullptr);
    }
    if (rc != 0) {
        llama_memory_seq_rm(llama_get_memory(h.ctx), seq_id_, n_past_, -1);
        if (rc == 2 || cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");
        if (rc == 1) {
            throw NativeError("CONTEXT_FULL", "the context has no free KV cells for the image: dispose sequences or use a larger contextSize");
        }
        std::string why = CapturedErrors();
        throw NativeError("DECODE_FAILED", "decoding the image embeddings failed with code " + std::to_string(rc) + (why.empty() ? "" : " (" + why + ")"));
    }
    new_n_past_ = new_n_past;
}

Napi::Value ImageEvalWorker::Result(Napi::Env env) { return Napi::Number::New(env, new_n_past_); }

}  // namespace stagebeam
