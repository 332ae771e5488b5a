#include "weights.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "../errors.h"
#include "weights_file.h"

namespace stagebeam::mllama {

namespace {

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

}  // namespace

TextWeights::~TextWeights() {
    for (auto * b : buffers_) ggml_backend_buffer_free(b);
    for (auto * c : ctxs_) ggml_free(c);
}

std::unique_ptr<TextWeights> TextWeights::Load(const std::string & path, const Options & options) {
    WeightsFile file(path, "model", "MODEL_LOAD_FAILED");
    const gguf_context * g = file.gguf();
    const std::string arch = file.String("general.architecture");
    if (arch != "mllama") {
        throw NativeError("UNSUPPORTED_ARCHITECTURE", path + " has architecture '" + arch + "', not mllama");
    }
    if (file.String("general.type") == "projector" || gguf_find_key(g, "mllama.embedding_length") < 0) {
        throw NativeError("INVALID_ARGUMENT", path + " is an mllama vision projector, not the text model: pass it as the projector");
    }

    std::unique_ptr<TextWeights> w(new TextWeights());
    w->hp = TextHparams::Read(g, path);
    w->name = file.String("general.name");
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

    auto take = [&](const std::string & name, std::initializer_list<int64_t> dims, ggml_backend_dev_t dev, bool required = true) {
        return file.Take(name, dims, /*f32 =*/dims.size() == 1, dev, required);
    };
    const int64_t n_embd = hp.n_embd, n_gqa = hp.EmbdGqa(), n_ff = hp.n_ff;
    w->tok_embd = take("token_embd.weight", {n_embd, -1}, cpu);
    w->n_embd_rows = static_cast<uint32_t>(w->tok_embd->ne[1]);
    w->output_norm = take("output_norm.weight", {n_embd}, w->output_device);
    w->output = take("output.weight", {n_embd, hp.n_vocab_out ? static_cast<int64_t>(hp.n_vocab_out) : -1}, w->output_device);
    w->hp.n_vocab_out = static_cast<uint32_t>(w->output->ne[1]);
    w->rope_freqs = take("rope_freqs.weight", {hp.head_dim / 2}, w->gpu ? block_device(n_block - 1) : cpu, false);
    w->blocks.resize(hp.n_block);
    std::vector<std::pair<ggml_tensor *, float *>> gates;
    for (uint32_t il = 0; il < hp.n_block; ++il) {
        TextBlock & b = w->blocks[il];
        const std::string p = "blk." + std::to_string(il) + ".";
        b.device = block_device(il);
        b.cross = hp.IsCross(il);
        b.attn_norm = take(p + "attn_norm.weight", {n_embd}, b.device);
        if (b.cross) {
            b.wq = take(p + "cross_attn_q_proj.weight", {n_embd, n_embd}, b.device);
            b.wk = take(p + "cross_attn_k_proj.weight", {n_embd, n_gqa}, b.device);
            b.wv = take(p + "cross_attn_v_proj.weight", {n_embd, n_gqa}, b.device);
            b.wo = take(p + "cross_attn_o_proj.weight", {n_embd, n_embd}, b.device);
            b.q_norm = take(p + "cross_attn_q_norm.weight", {hp.head_dim}, b.device);
            b.k_norm = take(p + "cross_attn_k_norm.weight", {hp.head_dim}, b.device);
            // Gates are read to host floats once: they scale whole branches, so a graph constant will do.
            gates.emplace_back(take(p + "cross_attn_attn_gate", {1}, cpu), &b.attn_gate);
            gates.emplace_back(take(p + "cross_attn_mlp_gate", {1}, cpu), &b.mlp_gate);
        } else {
            b.wq = take(p + "attn_q.weight", {n_embd, n_embd}, b.device);
            b.wk = take(p + "attn_k.weight", {n_embd, n_gqa}, b.device);
            b.wv = take(p + "attn_v.weight", {n_embd, n_gqa}, b.device);
            b.wo = take(p + "attn_output.weight", {n_embd, n_embd}, b.device);
        }
        b.ffn_norm = take(p + "ffn_norm.weight", {n_embd}, b.device);
        b.ffn_gate = take(p + "ffn_gate.weight", {n_embd, n_ff}, b.device);
        b.ffn_up = take(p + "ffn_up.weight", {n_embd, n_ff}, b.device);
        b.ffn_down = take(p + "ffn_down.weight", {n_ff, n_embd}, b.device);
    }

    file.Load(options.progress, w->ctxs_, w->buffers_);
    w->n_params = file.params();
    w->n_bytes = file.bytes();
    for (auto [tensor, gate] : gates) *gate = std::tanh(ReadScalar(file, tensor));
    return w;
}

}  // namespace stagebeam::mllama
