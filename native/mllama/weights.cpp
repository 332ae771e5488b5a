#include "weights.h"

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

std::string StringKey(const gguf_context * g, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(g, id);
}

std::string ScalarText(const gguf_context * g, int64_t id, gguf_type type, const void * data, size_t i) {
    switch (type) {
        case GGUF_TYPE_UINT8: return std::to_string(static_cast<const uint8_t *>(data)[i]);
        case GGUF_TYPE_INT8: return std::to_string(static_cast<const int8_t *>(data)[i]);
        case GGUF_TYPE_UINT16: return std::to_string(static_cast<const uint16_t *>(data)[i]);
        case GGUF_TYPE_INT16: return std::to_string(static_cast<const int16_t *>(data)[i]);
        case GGUF_TYPE_UINT32: return std::to_string(static_cast<const uint32_t *>(data)[i]);
        case GGUF_TYPE_INT32: return std::to_string(static_cast<const int32_t *>(data)[i]);
        case GGUF_TYPE_UINT64: return std::to_string(static_cast<const uint64_t *>(data)[i]);
        case GGUF_TYPE_INT64: return std::to_string(static_cast<const int64_t *>(data)[i]);
        case GGUF_TYPE_FLOAT32: return std::to_string(static_cast<const float *>(data)[i]);
        case GGUF_TYPE_FLOAT64: return std::to_string(static_cast<const double *>(data)[i]);
        case GGUF_TYPE_BOOL: return static_cast<const int8_t *>(data)[i] ? "true" : "false";
        default: return "";
    }
}

// Key/values as text, as llama.cpp's metadata reports them; arrays longer than 16 are summarised
// (the tokenizer's arrays hold 128k entries).
std::vector<std::pair<std::string, std::string>> MetaText(const gguf_context * g) {
    std::vector<std::pair<std::string, std::string>> out;
    for (int64_t id = 0; id < gguf_get_n_kv(g); ++id) {
        const gguf_type type = gguf_get_kv_type(g, id);
        std::string value;
        if (type == GGUF_TYPE_STRING) {
            value = gguf_get_val_str(g, id);
        } else if (type == GGUF_TYPE_ARRAY) {
            const gguf_type at = gguf_get_arr_type(g, id);
            const size_t n = gguf_get_arr_n(g, id);
            if (n > 16 || at == GGUF_TYPE_STRING) {
                value = std::string("arr[") + gguf_type_name(at) + "," + std::to_string(n) + "]";
            } else {
                value = "[";
                for (size_t i = 0; i < n; ++i) value += (i ? ", " : "") + ScalarText(g, id, at, gguf_get_arr_data(g, id), i);
                value += "]";
            }
        } else {
            value = ScalarText(g, id, type, gguf_get_val_data(g, id), 0);
        }
        out.emplace_back(gguf_get_key(g, id), value);
    }
    return out;
}

std::string Dims(const int64_t * ne) {
    return "[" + std::to_string(ne[0]) + ", " + std::to_string(ne[1]) + ", " + std::to_string(ne[2]) + ", " + std::to_string(ne[3]) + "]";
}

}  // namespace

TextWeights::~TextWeights() {
    for (auto * b : buffers_) ggml_backend_buffer_free(b);
    for (auto * c : ctxs_) ggml_free(c);
}

std::unique_ptr<TextWeights> TextWeights::Load(const std::string & path, const Options & options) {
    std::error_code size_error;
    if (!std::filesystem::is_regular_file(path, size_error)) throw NativeError("MODEL_NOT_FOUND", "cannot open model file " + path + ": check the path");

    GgufFile file;
    file.gguf = gguf_init_from_file(path.c_str(), {/*no_alloc =*/true, /*ctx =*/&file.meta});
    if (!file.gguf) {
        throw NativeError("INVALID_GGUF", path + " is not a valid GGUF file: it may be truncated or another format; re-convert it");
    }
    const gguf_context * g = file.gguf;
    const std::string arch = StringKey(g, "general.architecture");
    if (arch != "mllama") {
        throw NativeError("UNSUPPORTED_ARCHITECTURE", path + " has architecture '" + arch + "', not mllama");
    }
    if (StringKey(g, "general.type") == "projector" || gguf_find_key(g, "mllama.embedding_length") < 0) {
        throw NativeError("INVALID_ARGUMENT", path + " is an mllama vision projector, not the text model: pass it as the projector");
    }
    size_t needed = gguf_get_data_offset(g);
    for (int64_t i = 0; i < gguf_get_n_tensors(g); ++i) {
        needed = std::max(needed, gguf_get_data_offset(g) + gguf_get_tensor_offset(g, i) + gguf_get_tensor_size(g, i));
    }
    const auto size = std::filesystem::file_size(path, size_error);
    if (!size_error && size < needed) {
        throw NativeError("INVALID_GGUF", path + " is truncated: its tensors need " + std::to_string(needed) + " bytes but the file has " +
                                              std::to_string(size) + "; re-convert or re-download it");
    }

    std::unique_ptr<TextWeights> w(new TextWeights());
    w->hp = TextHparams::Read(g, path);
    w->name = StringKey(g, "general.name");
    w->meta = MetaText(g);
    const TextHparams & hp = w->hp;

    // Devices: the first GPU (or integrated GPU) takes offloaded blocks.
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    if (!cpu) throw NativeError("NO_BACKEND", "no CPU backend is registered");
    if (options.gpu_layers != 0) {
        w->gpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_GPU);
        if (!w->gpu) w->gpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_IGPU);
    }
    const int64_t n_block = hp.n_block;
    auto block_device = [&](int64_t il) {
        if (!w->gpu) return cpu;
        return options.gpu_layers < 0 || il >= n_block - options.gpu_layers ? w->gpu : cpu;
    };
    w->output_device = w->gpu && (options.gpu_layers < 0 || options.gpu_layers > n_block) ? w->gpu : cpu;

    std::map<ggml_backend_buffer_type_t, ggml_context *> ctx_of;
    const size_t n_tensors = static_cast<size_t>(gguf_get_n_tensors(g));
    auto ctx_for = [&](ggml_backend_dev_t dev) {
        ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
        auto it = ctx_of.find(buft);
        if (it != ctx_of.end()) return it->second;
        ggml_init_params params = {ggml_tensor_overhead() * (n_tensors + 1), nullptr, /*no_alloc =*/true};
        ggml_context * c = ggml_init(params);
        if (!c) throw NativeError("MODEL_LOAD_FAILED", "out of memory creating the tensor table");
        w->ctxs_.push_back(c);
        ctx_of[buft] = c;
        return c;
    };

    struct Pending {
        ggml_tensor * tensor;
        size_t offset;
    };
    std::vector<Pending> pending;
    // Declares tensor `name` on `dev` after checking its shape; ne1 < 0 accepts any row count.
    auto take = [&](const std::string & name, int64_t ne0, int64_t ne1, ggml_backend_dev_t dev, bool required = true) -> ggml_tensor * {
        const int64_t id = gguf_find_tensor(g, name.c_str());
        if (id < 0) {
            if (!required) return nullptr;
            throw NativeError("INVALID_GGUF", path + " lacks the tensor " + name + ": re-convert it with `stagebeam convert`");
        }
        ggml_tensor * meta = ggml_get_tensor(file.meta, name.c_str());
        const bool vector = ne1 == 0;
        const bool ok = meta->ne[0] == ne0 && (vector ? meta->ne[1] == 1 : (ne1 < 0 || meta->ne[1] == ne1)) && meta->ne[2] == 1 && meta->ne[3] == 1;
        if (!ok) {
            throw NativeError("INVALID_GGUF", path + ": tensor " + name + " has shape " + Dims(meta->ne) + ", expected [" + std::to_string(ne0) +
                                                  (vector ? "" : ", " + (ne1 < 0 ? std::string("n") : std::to_string(ne1))) + "]");
        }
        if (vector && meta->type != GGML_TYPE_F32) {
            throw NativeError("INVALID_GGUF", path + ": tensor " + name + " must be F32 (it is " + ggml_type_name(meta->type) + ")");
        }
        ggml_tensor * t = ggml_dup_tensor(ctx_for(dev), meta);
        ggml_set_name(t, name.c_str());
        pending.push_back({t, gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id)});
        w->n_params += static_cast<uint64_t>(ggml_nelements(meta));
        w->n_bytes += ggml_nbytes(meta);
        return t;
    };

    const int64_t n_embd = hp.n_embd, n_gqa = hp.EmbdGqa(), n_ff = hp.n_ff;
    w->tok_embd = take("token_embd.weight", n_embd, -1, cpu);
    w->n_embd_rows = static_cast<uint32_t>(w->tok_embd->ne[1]);
    w->output_norm = take("output_norm.weight", n_embd, 0, w->output_device);
    w->output = take("output.weight", n_embd, hp.n_vocab_out ? static_cast<int64_t>(hp.n_vocab_out) : -1, w->output_device);
    w->hp.n_vocab_out = static_cast<uint32_t>(w->output->ne[1]);
    w->rope_freqs = take("rope_freqs.weight", hp.head_dim / 2, 0, w->gpu ? block_device(n_block - 1) : cpu, false);
    w->blocks.resize(hp.n_block);
    std::vector<std::pair<ggml_tensor *, float *>> gates;
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        TextBlock & b = w->blocks[il];
        const std::string p = "blk." + std::to_string(il) + ".";
        b.device = block_device(il);
        b.cross = hp.IsCross(il);
        b.attn_norm = take(p + "attn_norm.weight", n_embd, 0, b.device);
        if (b.cross) {
            b.wq = take(p + "cross_attn_q_proj.weight", n_embd, n_embd, b.device);
            b.wk = take(p + "cross_attn_k_proj.weight", n_embd, n_gqa, b.device);
            b.wv = take(p + "cross_attn_v_proj.weight", n_embd, n_gqa, b.device);
            b.wo = take(p + "cross_attn_o_proj.weight", n_embd, n_embd, b.device);
            b.q_norm = take(p + "cross_attn_q_norm.weight", hp.head_dim, 0, b.device);
            b.k_norm = take(p + "cross_attn_k_norm.weight", hp.head_dim, 0, b.device);
            // Gates are read to host floats once: they scale whole branches, so a graph constant will do.
            gates.emplace_back(take(p + "cross_attn_attn_gate", 1, 0, cpu), &b.attn_gate);
            gates.emplace_back(take(p + "cross_attn_mlp_gate", 1, 0, cpu), &b.mlp_gate);
        } else {
            b.wq = take(p + "attn_q.weight", n_embd, n_embd, b.device);
            b.wk = take(p + "attn_k.weight", n_embd, n_gqa, b.device);
            b.wv = take(p + "attn_v.weight", n_embd, n_gqa, b.device);
            b.wo = take(p + "attn_output.weight", n_embd, n_embd, b.device);
        }
        b.ffn_norm = take(p + "ffn_norm.weight", n_embd, 0, b.device);
        b.ffn_gate = take(p + "ffn_gate.weight", n_embd, n_ff, b.device);
        b.ffn_up = take(p + "ffn_up.weight", n_embd, n_ff, b.device);
        b.ffn_down = take(p + "ffn_down.weight", n_ff, n_embd, b.device);
    }

    for (auto & [buft, c] : ctx_of) {
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(c, buft);
        if (!buf) {
            throw NativeError("MODEL_LOAD_FAILED", std::string("could not allocate the weights on ") + ggml_backend_buft_name(buft) +
                                                       ": not enough memory; try fewer gpuLayers or a smaller quantization");
        }
        ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        w->buffers_.push_back(buf);
    }

    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) throw NativeError("MODEL_NOT_FOUND", "cannot open model file " + path);
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
                throw NativeError("ABORTED", "model loading was aborted");
            }
        }
    }
    for (auto [tensor, gate] : gates) {
        float raw = 0.0f;
        ggml_backend_tensor_get(tensor, &raw, 0, sizeof(raw));
        if (!std::isfinite(raw)) throw NativeError("INVALID_GGUF", path + ": " + ggml_get_name(tensor) + " is not a finite number");
        *gate = std::tanh(raw);
    }
    return w;
}

}  // namespace stagebeam::mllama
