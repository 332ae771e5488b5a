// Reference-counted owners of llama.cpp objects.
//
// JS objects (Model, Context, Sampler) and in-flight workers hold these through shared_ptr, so a llama.cpp
// object is freed only when nothing can touch it any more: a context outlives a decode that is still
// running after its JS object was collected, and a model outlives every context and sampler made from it,
// whatever order the garbage collector or process teardown finalizes them in.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "ggml.h"
#include "llama.h"
#include "mtmd.h"

#include "handle_counts.h"
#include "output_scratch.h"
#include "spm_split_points.h"

namespace stagebeam {

struct ModelHandle {
    LiveCount<HandleKind::Model> live;
    llama_model * model = nullptr;
    const llama_vocab * vocab = nullptr;

    // Where long texts may be cut for tokenizing (spm_split_points.h): built on the first long text,
    // null for vocabularies other than SPM, whose tokenizers are not quadratic.
    std::once_flag split_points_once;
    std::unique_ptr<SpmSplitPoints> split_points;

    explicit ModelHandle(llama_model * m) : model(m), vocab(llama_model_get_vocab(m)) {}
    ~ModelHandle() {
        if (model) llama_model_free(model);
    }
    ModelHandle(const ModelHandle &) = delete;
    ModelHandle & operator=(const ModelHandle &) = delete;
};

struct ContextHandle {
    LiveCount<HandleKind::Context> live;
    std::shared_ptr<ModelHandle> model;
    llama_context * ctx = nullptr;
    // Persistent CPU threadpools (decode, batch), attached to ctx: without them ggml creates and joins
    // threads on every graph compute, which costs more than a whole decode of a small model.
    ggml_threadpool * threadpool = nullptr;
    ggml_threadpool * threadpool_batch = nullptr;
    void (*threadpool_free)(ggml_threadpool *) = nullptr;
    llama_batch batch{};
    int32_t batch_capacity = 0;
    // Set while a decode runs on a worker thread: memory operations and a second decode are refused then,
    // because a llama_context is not thread-safe.
    std::atomic<bool> busy{false};
    // Reading buffers for decode outputs, reused across calls (output_scratch.h); only the decode that
    // holds `busy` touches them.
    OutputScratchSet output_scratch;

    ContextHandle(std::shared_ptr<ModelHandle> m, llama_context * c, int32_t n_batch)
        : model(std::move(m)), ctx(c), batch(llama_batch_init(n_batch, 0, 1)), batch_capacity(n_batch) {}
    ~ContextHandle() {
        llama_batch_free(batch);
        if (ctx) llama_free(ctx);
        if (threadpool_free) {
            if (threadpool) threadpool_free(threadpool);
            if (threadpool_batch) threadpool_free(threadpool_batch);
        }
    }
    ContextHandle(const ContextHandle &) = delete;
    ContextHandle & operator=(const ContextHandle &) = delete;
};

struct SamplerHandle {
    LiveCount<HandleKind::Sampler> live;
    std::shared_ptr<ModelHandle> model;  // grammar samplers point into the model's vocabulary
    llama_sampler * chain = nullptr;
    // The chain is only greedy (no bias, penalty or grammar): the token is the argmax of the logits and
    // the chain needs no candidate array — the common case of judges and greedy runs, per token.
    bool greedy_only = false;

    SamplerHandle(std::shared_ptr<ModelHandle> m, llama_sampler * s, bool greedy = false) : model(std::move(m)), chain(s), greedy_only(greedy) {}
    ~SamplerHandle() {
        if (chain) llama_sampler_free(chain);
    }
    SamplerHandle(const SamplerHandle &) = delete;
    SamplerHandle & operator=(const SamplerHandle &) = delete;
};

// A loaded multimodal projector (libmtmd) bound to its text model.
struct ProjectorHandle {
    LiveCount<HandleKind::Projector> live;
    std::shared_ptr<ModelHandle> model;
    mtmd_context * ctx = nullptr;
    // Encoding uses the projector's own compute state: contexts sharing a projector take turns.
    std::mutex encode_mutex;

    ProjectorHandle(std::shared_ptr<ModelHandle> m, mtmd_context * c) : model(std::move(m)), ctx(c) {}
    ~ProjectorHandle() {
        if (ctx) mtmd_free(ctx);
    }
    ProjectorHandle(const ProjectorHandle &) = delete;
    ProjectorHandle & operator=(const ProjectorHandle &) = delete;
};

// A decoded image (RGB pixels) ready for mtmd_tokenize.
struct ImageHandle {
    LiveCount<HandleKind::Image> live;
    mtmd_bitmap * bitmap = nullptr;

    explicit ImageHandle(mtmd_bitmap * b) : bitmap(b) {}
    ~ImageHandle() {
        if (bitmap) mtmd_bitmap_free(bitmap);
    }
    ImageHandle(const ImageHandle &) = delete;
    ImageHandle & operator=(const ImageHandle &) = delete;
};

// A prompt split by mtmd_tokenize into text and image chunks; keeps its projector alive.
struct ChunksHandle {
    LiveCount<HandleKind::Chunks> live;
    std::shared_ptr<ProjectorHandle> projector;
    mtmd_input_chunks * chunks = nullptr;

    ChunksHandle(std::shared_ptr<ProjectorHandle> p, mtmd_input_chunks * c) : projector(std::move(p)), chunks(c) {}
    ~ChunksHandle() {
        if (chunks) mtmd_input_chunks_free(chunks);
    }
    ChunksHandle(const ChunksHandle &) = delete;
    ChunksHandle & operator=(const ChunksHandle &) = delete;
};

using CancelFlag = std::shared_ptr<std::atomic<bool>>;

}  // namespace stagebeam
