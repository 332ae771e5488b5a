#include "vision_context.h"

#include <cmath>
#include <string>

#include "../errors.h"
#include "vision_graph.h"

namespace stagebeam::mllama {

namespace {

// The graph's tensor metadata lives in a fixed block the context owns; this scopes one use of it.
struct GraphScope {
    ggml_context * ctx;
    explicit GraphScope(std::vector<uint8_t> & memory) : ctx(ggml_init({memory.size(), memory.data(), /*no_alloc =*/true})) {}
    ~GraphScope() { ggml_free(ctx); }
};

}  // namespace

VisionContext::VisionContext(std::shared_ptr<const VisionWeights> weights, int32_t n_threads, bool flash_attn, int64_t attention_chunk)
    : weights_(std::move(weights)), n_threads_(std::max(1, n_threads)), flash_attn_(flash_attn) {
    const int64_t L = static_cast<int64_t>(weights_->hp.PaddedPositions()) * weights_->hp.max_tiles;
    if (attention_chunk < 0 || attention_chunk > L || (attention_chunk > 0 && L % attention_chunk != 0)) {
        throw NativeError("INVALID_ARGUMENT", "attentionChunk must divide the " + std::to_string(L) + " vision rows, got " + std::to_string(attention_chunk));
    }
    chunk_ = attention_chunk > 0 ? attention_chunk : VisionAttentionChunk(weights_->hp);
    // A constructor that throws runs no destructor: free what was made so far.
    try {
        Init();
    } catch (...) {
        Free();
        throw;
    }
}

void VisionContext::Init() {
    ggml_backend_dev_t cpu_dev = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    cpu_ = cpu_dev ? ggml_backend_dev_init(cpu_dev, nullptr) : nullptr;
    if (!cpu_) throw NativeError("PROJECTOR_LOAD_FAILED", "the CPU backend could not be started");
    if (weights_->on_gpu) {
        gpu_ = ggml_backend_dev_init(weights_->device, nullptr);
        if (!gpu_) throw NativeError("PROJECTOR_LOAD_FAILED", std::string("the GPU backend ") + ggml_backend_dev_name(weights_->device) + " could not be started");
    }
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu_dev);
    set_n_threads_ = reinterpret_cast<decltype(set_n_threads_)>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads"));
    set_abort_ = reinterpret_cast<decltype(set_abort_)>(ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_abort_callback"));

    std::vector<ggml_backend_t> backends;
    if (gpu_) backends.push_back(gpu_);
    backends.push_back(cpu_);
    const VisionHparams & hp = weights_->hp;
    sched_ = ggml_backend_sched_new(backends.data(), nullptr, static_cast<int>(backends.size()), VisionGraphNodeBudget(hp, chunk_), false, true);
    if (!sched_) throw NativeError("PROJECTOR_LOAD_FAILED", "the ggml scheduler could not be created");
    graph_memory_.resize(VisionGraphContextBytes(hp, chunk_));

    GraphScope scope(graph_memory_);
    VisionGraph g = BuildVisionGraph(scope.ctx, *weights_, 1, flash_attn_, chunk_);
    if (!ggml_backend_sched_reserve(sched_, g.graph)) {
        throw NativeError("PROJECTOR_LOAD_FAILED", "could not allocate the vision encoder's compute buffers: not enough memory");
    }
    for (ggml_backend_t b : {gpu_, cpu_}) {
        if (b) compute_buffers_.emplace_back(ggml_backend_name(b), ggml_backend_sched_get_buffer_size(sched_, b));
    }
}

VisionContext::~VisionContext() { Free(); }

void VisionContext::Free() {
    if (sched_) ggml_backend_sched_free(sched_);
    if (gpu_) ggml_backend_free(gpu_);
    if (cpu_) ggml_backend_free(cpu_);
    sched_ = nullptr;
    gpu_ = cpu_ = nullptr;
}

std::vector<float> VisionContext::Encode(const float * pixels, size_t n_pixels, int32_t aspect_ratio_id, int32_t real_tiles,
                                         const std::atomic<bool> * cancel, bool padding_mask) {
    const VisionHparams & hp = weights_->hp;
    // Checked here too (the binding checks first): a wrong id would read outside the tile tables.
    if (n_pixels != hp.PixelCount()) {
        throw NativeError("INVALID_ARGUMENT", "pixels must hold " + std::to_string(hp.PixelCount()) + " floats ([tiles, channels, size, size]), got " +
                                                  std::to_string(n_pixels));
    }
    if (aspect_ratio_id < 1 || aspect_ratio_id > static_cast<int32_t>(hp.aspect_ratios.size())) {
        throw NativeError("INVALID_ARGUMENT", "aspectRatioId must be 1.." + std::to_string(hp.aspect_ratios.size()) + ", got " + std::to_string(aspect_ratio_id));
    }
    if (real_tiles < 1 || real_tiles > static_cast<int32_t>(hp.max_tiles)) {
        throw NativeError("INVALID_ARGUMENT", "realTiles must be 1.." + std::to_string(hp.max_tiles) + ", got " + std::to_string(real_tiles));
    }

    const size_t L = static_cast<size_t>(hp.PaddedPositions()) * hp.max_tiles;
    std::vector<float> patches(static_cast<size_t>(hp.PatchValues()) * hp.Patches() * hp.max_tiles);
    UnfoldPatches(hp, pixels, patches.data());
    std::vector<ggml_fp16_t> mask(L * L);
    FillPaddingMask(hp, real_tiles, padding_mask, mask.data());
    if (cancel && cancel->load()) throw NativeError("ABORTED", "the operation was aborted");

    GraphScope scope(graph_memory_);
    VisionGraph g = BuildVisionGraph(scope.ctx, *weights_, aspect_ratio_id, flash_attn_, chunk_);
    ggml_backend_sched_reset(sched_);
    if (!ggml_backend_sched_alloc_graph(sched_, g.graph)) throw NativeError("IMAGE_ENCODE_FAILED", "could not allocate the vision encoder's compute buffers");
    ggml_backend_tensor_set(g.patches, patches.data(), 0, sizeof(float) * patches.size());
    ggml_backend_tensor_set(g.mask, mask.data(), 0, sizeof(ggml_fp16_t) * mask.size());

    if (set_n_threads_) set_n_threads_(cpu_, n_threads_);
    if (set_abort_) set_abort_(cpu_, [](void * flag) { return flag && static_cast<const std::atomic<bool> *>(flag)->load(); }, const_cast<std::atomic<bool> *>(cancel));
    const ggml_status status = ggml_backend_sched_graph_compute(sched_, g.graph);
    if (set_abort_) set_abort_(cpu_, nullptr, nullptr);
    if (status == GGML_STATUS_ABORTED || (cancel && cancel->load())) throw NativeError("ABORTED", "the operation was aborted");
    if (status != GGML_STATUS_SUCCESS) throw NativeError("IMAGE_ENCODE_FAILED", std::string("the mllama vision graph failed: ") + ggml_status_to_string(status));

    std::vector<float> states(static_cast<size_t>(ggml_nelements(g.states)));
    ggml_backend_tensor_get(g.states, states.data(), 0, sizeof(float) * states.size());
    return states;
}

}  // namespace stagebeam::mllama
