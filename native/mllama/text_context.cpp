#include "text_context.h"

#include <cstring>
#include <string>

#include "../errors.h"
#include "text_graph.h"

namespace stagebeam::mllama {

namespace {

// A graph's tensor metadata lives in a fixed block the context owns; this scopes one use of it.
struct GraphScope {
    ggml_context * ctx;
    explicit GraphScope(std::vector<uint8_t> & memory) : ctx(ggml_init({memory.size(), memory.data(), /*no_alloc =*/true})) {}
    ~GraphScope() { ggml_free(ctx); }
};

// Masks are built in F32; flash attention takes them in F16 (0 and -inf are exact in both).
void SetMask(ggml_tensor * tensor, const std::vector<float> & values) {
    if (tensor->type == GGML_TYPE_F32) {
        ggml_backend_tensor_set(tensor, values.data(), 0, sizeof(float) * values.size());
        return;
    }
    std::vector<ggml_fp16_t> half(values.size());
    ggml_fp32_to_fp16_row(values.data(), half.data(), static_cast<int64_t>(values.size()));
    ggml_backend_tensor_set(tensor, half.data(), 0, sizeof(ggml_fp16_t) * half.size());
}

}  // namespace

TextContext::TextContext(std::shared_ptr<const TextWeights> weights, const Params & params) : weights_(std::move(weights)), params_(params) {
    ggml_backend_dev_t cpu_dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    cpu_ = cpu_dev ? ggml_backend_dev_init(cpu_dev, nullptr) : nullptr;
    if (!cpu_) throw NativeError("CONTEXT_CREATE_FAILED", "the CPU backend could not be started");
    if (weights_->gpu) {
        gpu_ = ggml_backend_dev_init(weights_->gpu, nullptr);
        if (!gpu_) throw NativeError("CONTEXT_CREATE_FAILED", std::string("the GPU backend ") + ggml_backend_dev_name(weights_->gpu) + " could not be started");
    }
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu_dev);
    set_n_threads_ = reinterpret_cast<decltype(set_n_threads_)>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
    set_abort_ = reinterpret_cast<decltype(set_abort_)>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback"));
    set_threadpool_ = reinterpret_cast<decltype(set_threadpool_)>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_cpu_set_threadpool"));
    auto threadpool_new = reinterpret_cast<ggml_threadpool_t (*)(ggml_threadpool_params *)>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
    threadpool_free_ = reinterpret_cast<decltype(threadpool_free_)>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
    if (threadpool_new && threadpool_free_ && set_threadpool_) {
        // Persistent workers that sleep between graphs (poll 0), as the llama.cpp contexts here do: the
        // sampling threads and the JS thread need those cores between decodes.
        ggml_threadpool_params tpp = ggml_threadpool_params_default(params_.n_threads);
        tpp.poll = 0;
        threadpool_ = threadpool_new(&tpp);
        if (params_.n_threads_batch != params_.n_threads) {
            ggml_threadpool_params tpb = ggml_threadpool_params_default(params_.n_threads_batch);
            tpb.poll = 0;
            threadpool_batch_ = threadpool_new(&tpb);
        }
    }

    std::vector<ggml_backend_t> backends;
    if (gpu_) backends.push_back(gpu_);
    backends.push_back(cpu_);
    const size_t nodes = GraphNodeBudget(weights_->hp);
    sched_ = ggml_backend_sched_new(backends.data(), nullptr, static_cast<int>(backends.size()), nodes, false, true);
    if (!sched_) throw NativeError("CONTEXT_CREATE_FAILED", "the ggml scheduler could not be created");
    kv_ = std::make_unique<KvCache>(*weights_, params_.n_ctx, params_.n_seq, params_.kv_type);
    if (params_.n_images > 0 && params_.rows_per_image > 0) {
        cross_ = std::make_unique<CrossStore>(*weights_, params_.n_images, params_.rows_per_image, params_.n_seq, params_.kv_type);
    }
    graph_memory_.resize(GraphContextBytes(weights_->hp));
    Reserve();
}

TextContext::~TextContext() {
    kv_.reset();
    cross_.reset();
    if (sched_) ggml_backend_sched_free(sched_);
    if (gpu_) ggml_backend_free(gpu_);
    if (cpu_) ggml_backend_free(cpu_);
    if (threadpool_free_) {
        if (threadpool_) threadpool_free_(threadpool_);
        if (threadpool_batch_) threadpool_free_(threadpool_batch_);
    }
}

size_t TextContext::ComputeBytes() const {
    size_t bytes = 0;
    for (ggml_backend_t b : {gpu_, cpu_}) {
        if (b) bytes += ggml_backend_sched_get_buffer_size(sched_, b);
    }
    return bytes;
}

// Allocates compute buffers for the largest graph now, so a context that cannot run fails at creation.
void TextContext::Reserve() {
    GraphScope scope(graph_memory_);
    const uint32_t n = params_.n_ubatch;
    CrossStore::View all;
    if (cross_) all = {0, static_cast<int32_t>(cross_->slots()) - 1};
    TextGraph g = BuildTextGraph(scope.ctx, *weights_, *kv_, n, kv_->size(), std::min(n, params_.max_outputs), cross_.get(), all, kAblateNone,
                                 params_.flash_attn);
    if (!ggml_backend_sched_reserve(sched_, g.graph)) {
        throw NativeError("CONTEXT_CREATE_FAILED", "could not allocate the compute buffers: try a smaller contextSize or ubatchSize");
    }
}

void TextContext::UseThreads(bool batch) {
    const int32_t n = batch ? params_.n_threads_batch : params_.n_threads;
    if (set_n_threads_) set_n_threads_(cpu_, n);
    ggml_threadpool_t pool = batch && threadpool_batch_ ? threadpool_batch_ : threadpool_;
    if (set_threadpool_ && pool) set_threadpool_(cpu_, pool);
}

void TextContext::Compute(ggml_cgraph * graph, const std::atomic<bool> * cancel) {
    if (set_abort_) set_abort_(cpu_, [](void * flag) { return static_cast<const std::atomic<bool> *>(flag)->load(); }, const_cast<std::atomic<bool> *>(cancel));
    const ggml_status status = ggml_backend_sched_graph_compute(sched_, graph);
    if (set_abort_) set_abort_(cpu_, nullptr, nullptr);
    if (status == GGML_STATUS_ABORTED || (cancel && cancel->load())) throw NativeError("ABORTED", "the operation was aborted");
    if (status != GGML_STATUS_SUCCESS) throw NativeError("DECODE_FAILED", std::string("the mllama graph failed: ") + ggml_status_to_string(status));
}

void TextContext::SeqCopy(int32_t src, int32_t dst, int32_t p0, int32_t p1) {
    kv_->SeqCopy(src, dst, p0, p1);
    if (cross_) cross_->SeqCopy(src, dst, p0, p1);
}

void TextContext::SeqRemove(int32_t seq, int32_t p0, int32_t p1) {
    kv_->SeqRemove(seq, p0, p1);
    if (cross_) cross_->SeqRemove(seq, p0, p1);
}

void TextContext::Clear() {
    kv_->Clear();
    if (cross_) cross_->Clear();
}

int32_t TextContext::StoreImage(const std::string & id, const float * states, uint32_t real_rows, const std::atomic<bool> * cancel) {
    if (!cross_) throw NativeError("NO_PROJECTOR", "this context has no image store: create it after loading the model's projector");
    const int32_t found = cross_->Find(id);
    if (found >= 0) return found;
    const int32_t slot = cross_->Free();
    if (slot < 0) {
        throw NativeError("CONTEXT_FULL", "every image slot of the context is in use: dispose sequences that hold other images, or create the context with more images");
    }
    GraphScope scope(graph_memory_);
    CrossKvGraph g = BuildCrossKvGraph(scope.ctx, *weights_, *cross_, slot, params_.ablate);
    ggml_backend_sched_reset(sched_);
    if (!ggml_backend_sched_alloc_graph(sched_, g.graph)) throw NativeError("IMAGE_ENCODE_FAILED", "could not allocate the compute buffers for an image");
    ggml_backend_tensor_set(g.states, states, 0, ggml_nbytes(g.states));
    UseThreads(true);
    // The slot is marked only once its rows are written: a failed or aborted computation leaves it free
    // and holding no image.
    cross_->Fill(slot, "", 0);
    Compute(g.graph, cancel);
    cross_->Fill(slot, id, params_.ablate & kAblateTileMask ? cross_->rows_per_image() : real_rows);
    return slot;
}

void TextContext::DecodeUbatch(const int32_t * tokens, const int32_t * positions, const int32_t * seq_ids, const uint8_t * outputs, uint32_t n,
                               std::vector<float> & logits, const std::atomic<bool> * cancel) {
    std::vector<uint32_t> cells = kv_->Find(n);
    if (cells.size() != n) {
        throw NativeError("CONTEXT_FULL",
                          "the context has no free KV cells for this batch: dispose sequences you no longer need, or create the context with a larger contextSize");
    }
    kv_->Apply(cells, positions, seq_ids);
    const uint32_t n_kv = kv_->ViewSize();
    std::vector<int32_t> rows;
    for (uint32_t i = 0; i < n; ++i) {
        if (outputs[i]) rows.push_back(static_cast<int32_t>(i));
    }

    CrossStore::View view;
    if (cross_) view = cross_->ViewFor(seq_ids, positions, n);

    GraphScope scope(graph_memory_);
    TextGraph g = BuildTextGraph(scope.ctx, *weights_, *kv_, n, n_kv, static_cast<uint32_t>(rows.size()), cross_.get(), view, params_.ablate,
                                 params_.flash_attn);
    ggml_backend_sched_reset(sched_);
    if (!ggml_backend_sched_alloc_graph(sched_, g.graph)) throw NativeError("DECODE_FAILED", "could not allocate the compute buffers for this batch");

    ggml_backend_tensor_set(g.tokens, tokens, 0, sizeof(int32_t) * n);
    ggml_backend_tensor_set(g.positions, positions, 0, sizeof(int32_t) * n);
    std::vector<int64_t> cell_ids(cells.begin(), cells.end());
    ggml_backend_tensor_set(g.cells, cell_ids.data(), 0, sizeof(int64_t) * n);
    std::vector<float> mask(static_cast<size_t>(n_kv) * n);
    kv_->FillMask(mask.data(), n_kv, positions, seq_ids, n, n);
    SetMask(g.mask, mask);
    if (!rows.empty()) ggml_backend_tensor_set(g.outputs, rows.data(), 0, sizeof(int32_t) * rows.size());
    if (g.cross_mask) {
        std::vector<float> cross_mask(static_cast<size_t>(ggml_nelements(g.cross_mask)));
        std::vector<float> row_mask(n);
        cross_->FillMasks(view, seq_ids, positions, n, cross_mask.data(), row_mask.data());
        SetMask(g.cross_mask, cross_mask);
        if (g.row_mask) ggml_backend_tensor_set(g.row_mask, row_mask.data(), 0, sizeof(float) * row_mask.size());
    }

    UseThreads(n > 1);
    Compute(g.graph, cancel);

    const size_t n_vocab = weights_->hp.n_vocab_out;
    logits.resize(n_vocab * rows.size());
    if (!rows.empty()) ggml_backend_tensor_get(g.logits, logits.data(), 0, sizeof(float) * logits.size());
}

}  // namespace stagebeam::mllama
