#include "vision_weights.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "../errors.h"
#include "ggml-alloc.h"

namespace stagebeam::mllama {

namespace {

struct GgufFile {
    gguf_context * gguf = nullptr;
    ggml_context * meta = nullptr;
    ~GgufFile() {
        if (gguf) gguf_free(gguf);
        if (meta) ggml_free(meta);
    }
};

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

std::string Dims(const int64_t * ne) {
    return "[" + std::to_string(ne[0]) + ", " + std::to_string(ne[1]) + ", " + std::to_string(ne[2]) + ", " + std::to_string(ne[3]) + "]";
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
    std::error_code size_error;
    if (!std::filesystem::is_regular_file(path, size_error)) throw NativeError("MODEL_NOT_FOUND", "cannot open projector file " + path + ": check the path");

    GgufFile file;
    file.gguf = gguf_init_from_file(path.c_str(), {/*no_alloc =*/true, /*ctx =*/&file.meta});
    if (!file.gguf) throw NativeError("INVALID_GGUF", path + " is not a valid GGUF file: it may be truncated or another format; re-convert it");
    const gguf_context * g = file.gguf;
    std::unique_ptr<VisionWeights> w(new VisionWeights());
    w->hp = VisionHparams::Read(g, path);
    w->name = StringKey(g, "general.name");
    const VisionHparams & hp = w->hp;

    size_t needed = gguf_get_data_offset(g);
    for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
        needed = std::max(needed, gguf_get_data_offset(g) + gguf_get_tensor_offset(g, i) + gguf_get_tensor_size(g, i));
    }
    const auto size = std::filesystem::file_size(path, size_error);
    if (!size_error && size < needed) {
        throw NativeError("INVALID_GGUF", path + " is truncated: its tensors need " + std::to_string(needed) + " bytes but the file has " +
                                              std::to_string(size) + "; re-convert or re-download it");
    }

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

    std::map<ggml_backend_buffer_type_t, ggml_context *> ctx_of;
    const size_t n_tensors = static_cast<size_t>(gguf_get_n_tensors(g));
    auto ctx_for = [&](ggml_backend_dev_t dev) {
        ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
        auto it = ctx_of.find(buft);
        if (it != ctx_of.end()) return it->second;
        ggml_context * c = ggml_init({ggml_tensor_overhead() * (n_tensors + 1), nullptr, /*no_alloc =*/true});
        if (!c) throw NativeError("PROJECTOR_LOAD_FAILED", "out of memory creating the tensor table");
        w->ctxs_.push_back(c);
        ctx_of[buft] = c;
        return c;
    };

    struct Pending {
        ggml_tensor * tensor;
        size_t offset;
    };
    std::vector<Pending> pending;
    // Declares tensor `name` after checking its exact ggml shape; `f32` tensors (embeddings, norms, biases,
    // gates) must be F32, 2-D weights may be any type ggml multiplies (F32, F16, Q8_0, …).
    auto take = [&](const std::string & name, std::initializer_list<int64_t> dims, bool f32, ggml_backend_dev_t dev) -> ggml_tensor * {
        const int64_t id = gguf_find_tensor(g, name.c_str());
        if (id < 0) Bad(path, "the tensor " + name + " is missing");
        ggml_tensor * meta = ggml_get_tensor(file.meta, name.c_str());
        int64_t want[4] = {1, 1, 1, 1};
        std::copy(dims.begin(), dims.end(), want);
        if (meta->ne[0] != want[0] || meta->ne[1] != want[1] || meta->ne[2] != want[2] || meta->ne[3] != want[3]) {
            Bad(path, "the tensor " + name + " has shape " + Dims(meta->ne) + ", expected " + Dims(want));
        }
        if (f32 && meta->type != GGML_TYPE_F32) Bad(path, "the tensor " + name + " must be F32 (it is " + ggml_type_name(meta->type) + ")");
        ggml_tensor * t = ggml_dup_tensor(ctx_for(dev), meta);
        ggml_set_name(t, name.c_str());
        pending.push_back({t, gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id)});
        w->n_params += static_cast<uint64_t>(ggml_nelements(meta));
        w->n_bytes += ggml_nbytes(meta);
        return t;
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

    for (auto & [buft, c] : ctx_of) {
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(c, buft);
        if (!buf) {
            throw NativeError("PROJECTOR_LOAD_FAILED", std::string("could not allocate the vision weights on ") + ggml_backend_buft_name(buft) +
                                                           ": not enough memory; try { gpu: false }");
        }
        ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        w->buffers_.push_back(buf);
    }

    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw NativeError("MODEL_NOT_FOUND", "cannot open projector file " + path);
    std::vector<uint8_t> staging;
    const uint64_t total = std::max<uint64_t>(1, w->n_bytes);
    uint64_t done = 0;
    const size_t chunk = 64u << 20;
    for (const Pending & p : pending) {
        const size_t n = ggml_nbytes(p.tensor);
        const bool host = ggml_backend_buffer_is_host(p.tensor->buffer);
        for (size_t at = 0; at < n; at += chunk) {
            const size_t count = std::min(chunk, n - at);
            if (fseeko(f.get(), static_cast<off_t>(p.offset + at), SEEK_SET) != 0) throw NativeError("INVALID_GGUF", path + ": cannot seek to tensor data");
            uint8_t * dst;
            if (host) {
                dst = static_cast<uint8_t *>(p.tensor->data) + at;
            } else {
                staging.resize(count);
                dst = staging.data();
            }
            if (std::fread(dst, 1, count, f.get()) != count) throw NativeError("INVALID_GGUF", path + " is truncated inside tensor " + ggml_get_name(p.tensor));
            if (!host) ggml_backend_tensor_set(p.tensor, dst, at, count);
            done += count;
            if (options.progress && !options.progress(static_cast<float>(static_cast<double>(done) / static_cast<double>(total)))) {
                throw NativeError("ABORTED", "projector loading was aborted");
            }
        }
    }
    for (auto [tensor, value] : gates) {
        float stored = 0.0f;
        ggml_backend_tensor_get(tensor, &stored, 0, sizeof(stored));
        if (!std::isfinite(stored)) Bad(path, std::string(ggml_get_name(tensor)) + " is not a finite number");
        *value = stored;  // the converter stored tanh(g) (or 1 - tanh(g)) already
    }
    return w;
}

}  // namespace stagebeam::mllama
