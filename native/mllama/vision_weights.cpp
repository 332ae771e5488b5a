#include "vision_weights.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "../errors.h"
#include "weights_file.h"

namespace stagebeam::mllama {

namespace {

[[noreturn]] void Bad(const std::string & path, const std::string & what) {
    throw NativeError("INVALID_GGUF", path + " is not a usable mllama vision projector: " + what + "; re-convert it with `stagebeam convert`");
}

std::string StringKey(const gguf_context * g, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(g, id);
}

// Integer keys are u32 from our converter; other widths are read too.
int64_t Int(const gguf_context * g, const std::string & path, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) Bad(path, std::string("the key ") + key + " is missing");
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_UINT8: return gguf_get_val_u8(g, id);
        case GGUF_TYPE_INT8: return gguf_get_val_i8(g, id);
        case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
        case GGUF_TYPE_INT16: return gguf_get_val_i16(g, id);
        case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
        case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
        case GGUF_TYPE_UINT64: return static_cast<int64_t>(std::min<uint64_t>(gguf_get_val_u64(g, id), INT64_MAX));
        case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
        default: Bad(path, std::string("the key ") + key + " is not an integer");
    }
}

// A size key: 1 .. max, so products of sizes stay far from overflow.
uint32_t Size(const gguf_context * g, const std::string & path, const char * key, int64_t max = 1 << 20) {
    const int64_t v = Int(g, path, key);
    if (v < 1 || v > max) Bad(path, std::string("the key ") + key + " is " + std::to_string(v) + ", outside 1.." + std::to_string(max));
    return static_cast<uint32_t>(v);
}

float Float(const gguf_context * g, const std::string & path, const char * key, float fallback) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) return fallback;
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_FLOAT32: return gguf_get_val_f32(g, id);
        case GGUF_TYPE_FLOAT64: return static_cast<float>(gguf_get_val_f64(g, id));
        default: Bad(path, std::string("the key ") + key + " is not a number");
    }
}

std::vector<int64_t> Ints(const gguf_context * g, const std::string & path, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) Bad(path, std::string("the key ") + key + " is missing");
    if (gguf_get_kv_type(g, id) != GGUF_TYPE_ARRAY) Bad(path, std::string("the key ") + key + " is not an array");
    const size_t n = gguf_get_arr_n(g, id);
    const gguf_type type = gguf_get_arr_type(g, id);
    const void * data = gguf_get_arr_data(g, id);
    std::vector<int64_t> out;
    for (size_t i = 0; i < n; ++i) {
        if (type == GGUF_TYPE_INT32) out.push_back(static_cast<const int32_t *>(data)[i]);
        else if (type == GGUF_TYPE_UINT32) out.push_back(static_cast<const uint32_t *>(data)[i]);
        else Bad(path, std::string("the key ") + key + " must hold 32-bit integers");
    }
    return out;
}

std::vector<float> Floats(const gguf_context * g, const std::string & path, const char * key, size_t n) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) Bad(path, std::string("the key ") + key + " is missing");
    if (gguf_get_kv_type(g, id) != GGUF_TYPE_ARRAY || gguf_get_arr_n(g, id) != n) Bad(path, std::string("the key ") + key + " must hold " + std::to_string(n) + " numbers");
    std::vector<float> out;
    for (size_t i = 0; i < n; ++i) {
        const gguf_type type = gguf_get_arr_type(g, id);
        if (type == GGUF_TYPE_FLOAT32) out.push_back(static_cast<const float *>(gguf_get_arr_data(g, id))[i]);
        else if (type == GGUF_TYPE_FLOAT64) out.push_back(static_cast<float>(static_cast<const double *>(gguf_get_arr_data(g, id))[i]));
        else Bad(path, std::string("the key ") + key + " must hold floats");
        if (!std::isfinite(out.back())) Bad(path, std::string("the key ") + key + " holds a non-finite number");
    }
    return out;
}

}  // namespace

VisionHparams VisionHparams::Read(const gguf_context * g, const std::string & path) {
    const std::string arch = StringKey(g, "general.architecture");
    if (arch != "mllama") {
        throw NativeError("INVALID_PROJECTOR", path + " is not an mllama vision projector (general.architecture = '" + arch +
                                                   "'): give the projector written by `stagebeam convert` with the model");
    }
    if (StringKey(g, "general.type") != "projector" || gguf_find_key(g, "mllama.vision.block_count") < 0) {
        throw NativeError("INVALID_ARGUMENT", path + " is an mllama text model, not its vision projector: pass the projector file (mmproj-…gguf)");
    }
    VisionHparams h;
    h.n_block = Size(g, path, "mllama.vision.block_count", 4096);
    h.n_global = Size(g, path, "mllama.vision.global.block_count", 4096);
    h.n_embd = Size(g, path, "mllama.vision.embedding_length", 1 << 16);
    h.n_ff = Size(g, path, "mllama.vision.feed_forward_length", 1 << 18);
    h.n_head = Size(g, path, "mllama.vision.attention.head_count", 4096);
    h.eps = Float(g, path, "mllama.vision.attention.layer_norm_epsilon", 1e-5f);
    h.image_size = Size(g, path, "mllama.vision.image_size", 1 << 14);
    h.patch_size = Size(g, path, "mllama.vision.patch_size", 1 << 10);
    h.max_tiles = Size(g, path, "mllama.vision.max_num_tiles", 64);
    h.channels = Size(g, path, "mllama.vision.num_channels", 16);
    h.projection_dim = Size(g, path, "mllama.vision.projection_dim", 1 << 18);
    if (!(h.eps > 0.0f) || !std::isfinite(h.eps)) Bad(path, "layer_norm_epsilon must be a positive number");
    if (h.n_embd % h.n_head != 0) Bad(path, "embedding_length is not a multiple of head_count");
    if (h.image_size % h.patch_size != 0) Bad(path, "image_size is not a multiple of patch_size");
    // The attention matrix is [L, L] per head, L = tiles × padded positions: keep it addressable.
    if (static_cast<uint64_t>(h.max_tiles) * h.PaddedPositions() > (1u << 16)) Bad(path, "image_size / patch_size / max_num_tiles give too many vision tokens");

    for (int64_t i : Ints(g, path, "mllama.vision.intermediate_layers_indices")) {
        if (i < 0 || i >= h.n_block) Bad(path, "an intermediate layer index is outside the local block_count");
        h.intermediate.push_back(static_cast<int32_t>(i));
    }
    const std::vector<int64_t> ratios = Ints(g, path, "mllama.vision.supported_aspect_ratios");
    if (ratios.empty() || ratios.size() % 2 != 0) Bad(path, "supported_aspect_ratios must hold [h, w] pairs");
    for (size_t i = 0; i < ratios.size(); i += 2) {
        const int64_t th = ratios[i], tw = ratios[i + 1];
        if (th < 1 || tw < 1 || th * tw > h.max_tiles) Bad(path, "an aspect ratio does not fit in max_num_tiles");
        h.aspect_ratios.emplace_back(static_cast<int32_t>(th), static_cast<int32_t>(tw));
    }
    h.image_mean = Floats(g, path, "mllama.vision.image_mean", h.channels);
    h.image_std = Floats(g, path, "mllama.vision.image_std", h.channels);
    for (float s : h.image_std) {
        if (!(s > 0.0f)) Bad(path, "image_std must be positive");
    }
    h.pair_id = StringKey(g, "stagebeam.mllama.pair_id");
    return h;
}

VisionWeights::~VisionWeights() {
    for (auto * b : buffers_) ggml_backend_buffer_free(b);
    for (auto * c : ctxs_) ggml_free(c);
}

std::unique_ptr<VisionWeights> VisionWeights::Load(const std::string & path, const Options & options) {
    WeightsFile file(path, "vision projector", "PROJECTOR_LOAD_FAILED");
    const gguf_context * g = file.gguf();
    std::unique_ptr<VisionWeights> w(new VisionWeights());
    w->hp = VisionHparams::Read(g, path);
    w->name = file.String("general.name");
    const VisionHparams & hp = w->hp;

    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) throw NativeError("NO_BACKEND", "no CPU backend is registered");
    w->device = cpu;
    if (options.gpu) {
        ggml_backend_dev_t gpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
        if (!gpu) gpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_IGPU);
        if (gpu) {
            w->device = gpu;
            w->on_gpu = true;
        }
    }

    // Embeddings, norms, biases and gates must be F32; 2-D weights may be any type ggml multiplies.
    auto take = [&](const std::string & name, std::initializer_list<int64_t> dims, bool f32, ggml_backend_dev_t dev) {
        return file.Take(name, dims, f32, dev, true, !f32 && options.widen);
    };
    ggml_backend_dev_t dev = w->device;
    std::vector<std::pair<ggml_tensor *, float *>> gates;
    auto gate = [&](const std::string & name, float * out) { gates.emplace_back(take(name, {1}, true, cpu), out); };

    const int64_t D = hp.n_embd, F = hp.n_ff, p = hp.patch_size, C = hp.channels, N = hp.Positions(), T = hp.max_tiles;
    const int64_t ids = static_cast<int64_t>(hp.aspect_ratios.size()) + 1;  // id 0: no image
    w->patch_embd = take("v.patch_embd.weight", {p, p, C, D}, true, dev);
    w->class_embd = take("v.class_embd", {D}, true, dev);
    w->position_embd = take("v.position_embd.weight", {D, N}, true, dev);
    gate("v.position_embd.gate", &w->position_gate);
    w->tile_position_embd = take("v.tile_position_embd.weight", {T * N * D, ids}, true, dev);
    gate("v.tile_position_embd.gate", &w->tile_position_gate);
    w->pre_tile_embd = take("v.pre_tile_position_embd.weight", {T * D, ids}, true, dev);
    gate("v.pre_tile_position_embd.gate", &w->pre_tile_gate);
    w->post_tile_embd = take("v.post_tile_position_embd.weight", {T * D, ids}, true, dev);
    gate("v.post_tile_position_embd.gate", &w->post_tile_gate);
    w->pre_ln_w = take("v.pre_ln.weight", {D}, true, dev);
    w->pre_ln_b = take("v.pre_ln.bias", {D}, true, dev);
    w->post_ln_w = take("v.post_ln.weight", {D}, true, dev);
    w->post_ln_b = take("v.post_ln.bias", {D}, true, dev);
    auto block = [&](const std::string & p, bool gated) {
        VisionBlock b;
        b.gated = gated;
        b.attn_norm_w = take(p + "attn_norm.weight", {D}, true, dev);
        b.attn_norm_b = take(p + "attn_norm.bias", {D}, true, dev);
        b.wq = take(p + "attn_q.weight", {D, D}, false, dev);
        b.wk = take(p + "attn_k.weight", {D, D}, false, dev);
        b.wv = take(p + "attn_v.weight", {D, D}, false, dev);
        b.wo = take(p + "attn_output.weight", {D, D}, false, dev);
        b.ffn_norm_w = take(p + "ffn_norm.weight", {D}, true, dev);
        b.ffn_norm_b = take(p + "ffn_norm.bias", {D}, true, dev);
        b.ffn_up_w = take(p + "ffn_up.weight", {D, F}, false, dev);
        b.ffn_up_b = take(p + "ffn_up.bias", {F}, true, dev);
        b.ffn_down_w = take(p + "ffn_down.weight", {F, D}, false, dev);
        b.ffn_down_b = take(p + "ffn_down.bias", {D}, true, dev);
        return b;
    };
    w->blocks.reserve(hp.n_block);
    for (uint32_t i = 0; i < hp.n_block; ++i) w->blocks.push_back(block("v.blk." + std::to_string(i) + ".", false));
    w->global_blocks.reserve(hp.n_global);
    for (uint32_t i = 0; i < hp.n_global; ++i) w->global_blocks.push_back(block("v.global.blk." + std::to_string(i) + ".", true));
    // Gates are taken after the blocks are in place: the vector no longer moves.
    for (uint32_t i = 0; i < hp.n_global; ++i) {
        const std::string p = "v.global.blk." + std::to_string(i) + ".";
        gate(p + "attn_gate", &w->global_blocks[i].attn_gate);
        gate(p + "ffn_gate", &w->global_blocks[i].ffn_gate);
    }
    w->mm_w = take("mm.0.weight", {static_cast<int64_t>(hp.OutputDim()), static_cast<int64_t>(hp.projection_dim)}, false, dev);
    w->mm_b = take("mm.0.bias", {static_cast<int64_t>(hp.projection_dim)}, true, dev);

    file.Load(options.progress, w->ctxs_, w->buffers_);
    w->n_params = file.params();
    w->n_bytes = file.bytes();
    w->n_resident_bytes = file.resident_bytes();
    // The converter stored tanh(g) (or 1 - tanh(g)) already.
    for (auto [tensor, value] : gates) *value = ReadScalar(file, tensor);
    return w;
}

}  // namespace stagebeam::mllama
