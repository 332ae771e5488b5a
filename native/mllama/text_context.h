// The compute side of an mllama context: backends, a scheduler, CPU threads, the KV cache, and the
// decode of one ubatch. Policy-free — which tokens, which sequences, rollback and sampling are the
// decode worker's business — and used from one thread at a time (the N-API context's busy flag).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "cross_store.h"
#include "ggml-backend.h"
#include "kv_cache.h"
#include "weights.h"

namespace stagebeam::mllama {

class TextContext {
  public:
    struct Params {
        uint32_t n_ctx = 4096;
        uint32_t n_seq = 8;
        uint32_t n_ubatch = 512;
        uint32_t max_outputs = 64;  // outputs per ubatch (bounds the logits buffer: 128k floats each)
        int32_t n_threads = 1;
        int32_t n_threads_batch = 1;
        ggml_type kv_type = GGML_TYPE_F16;
        uint32_t n_images = 0;         // image slots of the cross store (0: text only)
        uint32_t rows_per_image = 0;   // vision states per image: tiles × tokens per tile
        uint32_t ablate = 0;           // sensitivity tests only (text_graph.h Ablation)
        bool flash_attn = false;
    };

    // Throws NativeError(CONTEXT_CREATE_FAILED) when buffers cannot be allocated.
    TextContext(std::shared_ptr<const TextWeights> weights, const Params & params);
    ~TextContext();
    TextContext(const TextContext &) = delete;
    TextContext & operator=(const TextContext &) = delete;

    const Params & params() const { return params_; }
    const TextWeights & weights() const { return *weights_; }
    KvCache & kv() { return *kv_; }
    CrossStore * cross() { return cross_.get(); }
    // Bytes of the compute buffers the scheduler reserved for the largest ubatch, on every backend.
    size_t ComputeBytes() const;

    // Memory operations on both stores: self-attention cells and image bindings.
    void SeqCopy(int32_t src, int32_t dst, int32_t p0, int32_t p1);
    void SeqRemove(int32_t seq, int32_t p0, int32_t p1);
    void Clear();

    // The slot holding image `id`, computing its cross K/V from `states` (n_embd × rows_per_image floats)
    // into a free slot when no slot holds it. Throws CONTEXT_FULL when every slot is bound, ABORTED.
    int32_t StoreImage(const std::string & id, const float * states, uint32_t real_rows, const std::atomic<bool> * cancel);

    // Decodes n tokens (n <= n_ubatch, outputs <= max_outputs) into cells it takes from the cache, and
    // fills `logits` with one row of n_vocab_out floats per output, in order. Throws CONTEXT_FULL,
    // ABORTED or DECODE_FAILED; the cells stay tagged either way (the caller's rollback removes them).
    void DecodeUbatch(const int32_t * tokens, const int32_t * positions, const int32_t * seq_ids, const uint8_t * outputs, uint32_t n,
                      std::vector<float> & logits, const std::atomic<bool> * cancel);

  private:
    void Reserve();
    void UseThreads(bool batch);
    void Compute(ggml_cgraph * graph, const std::atomic<bool> * cancel);

    std::shared_ptr<const TextWeights> weights_;
    Params params_;
    std::unique_ptr<KvCache> kv_;
    std::unique_ptr<CrossStore> cross_;
    ggml_backend_t cpu_ = nullptr;
    ggml_backend_t gpu_ = nullptr;
    ggml_backend_sched_t sched_ = nullptr;
    std::vector<uint8_t> graph_memory_;
    // CPU backend functions reached through the registry (the CPU backend is a loadable module).
    void (*set_n_threads_)(ggml_backend_t, int) = nullptr;
    void (*set_abort_)(ggml_backend_t, ggml_abort_callback, void *) = nullptr;
    void (*set_threadpool_)(ggml_backend_t, ggml_threadpool_t) = nullptr;
    void (*threadpool_free_)(ggml_threadpool_t) = nullptr;
    ggml_threadpool_t threadpool_ = nullptr;
    ggml_threadpool_t threadpool_batch_ = nullptr;
};

}  // namespace stagebeam::mllama
