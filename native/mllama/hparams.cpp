#include "hparams.h"

#include <algorithm>

#include "../errors.h"

namespace stagebeam::mllama {

namespace {

[[noreturn]] void Bad(const std::string & path, const std::string & what) {
    throw NativeError("INVALID_GGUF", path + " is not a usable mllama model: " + what + "; re-convert it with `stagebeam convert`");
}

int64_t Key(const gguf_context * g, const std::string & path, const char * key) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) Bad(path, std::string("the key ") + key + " is missing");
    return id;
}

// Integer keys are written as u32 by our converter; other writers use other widths.
int64_t Int(const gguf_context * g, const std::string & path, const char * key, int64_t fallback = -1) {
    const int64_t id = gguf_find_key(g, key);
    if (id < 0) {
        if (fallback >= 0) return fallback;
        Bad(path, std::string("the key ") + key + " is missing");
    }
    switch (gguf_get_kv_type(g, id)) {
        case GGUF_TYPE_UINT8: return gguf_get_val_u8(g, id);
        case GGUF_TYPE_INT8: return gguf_get_val_i8(g, id);
        case GGUF_TYPE_UINT16: return gguf_get_val_u16(g, id);
        case GGUF_TYPE_INT16: return gguf_get_val_i16(g, id);
        case GGUF_TYPE_UINT32: return gguf_get_val_u32(g, id);
        case GGUF_TYPE_INT32: return gguf_get_val_i32(g, id);
        case GGUF_TYPE_UINT64: return static_cast<int64_t>(gguf_get_val_u64(g, id));
        case GGUF_TYPE_INT64: return gguf_get_val_i64(g, id);
        default: Bad(path, std::string("the key ") + key + " is not an integer");
    }
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

}  // namespace

bool TextHparams::IsCross(uint32_t block) const {
    return std::find(cross_layers.begin(), cross_layers.end(), static_cast<int32_t>(block)) != cross_layers.end();
}

TextHparams TextHparams::Read(const gguf_context * g, const std::string & path) {
    TextHparams h;
    h.n_ctx_train = static_cast<uint32_t>(Int(g, path, "mllama.context_length", 131072));
    h.n_embd = static_cast<uint32_t>(Int(g, path, "mllama.embedding_length"));
    h.n_block = static_cast<uint32_t>(Int(g, path, "mllama.block_count"));
    h.n_ff = static_cast<uint32_t>(Int(g, path, "mllama.feed_forward_length"));
    h.n_head = static_cast<uint32_t>(Int(g, path, "mllama.attention.head_count"));
    h.n_head_kv = static_cast<uint32_t>(Int(g, path, "mllama.attention.head_count_kv", h.n_head));
    h.rms_eps = Float(g, path, "mllama.attention.layer_norm_rms_epsilon", 1e-5f);
    h.rope_base = Float(g, path, "mllama.rope.freq_base", 500000.0f);
    h.n_vocab_out = static_cast<uint32_t>(Int(g, path, "mllama.vocab_size", 0));
    // Optional: without it the engine looks the token up by its text (<|image|>).
    h.image_token = gguf_find_key(g, "mllama.image_token_index") >= 0 ? static_cast<int32_t>(Int(g, path, "mllama.image_token_index")) : -1;
    if (h.n_embd == 0 || h.n_head == 0 || h.n_head_kv == 0 || h.n_block == 0 || h.n_ff == 0) Bad(path, "a size key is 0");
    if (h.n_embd % h.n_head != 0) Bad(path, "embedding_length is not a multiple of head_count");
    if (h.n_head % h.n_head_kv != 0) Bad(path, "head_count is not a multiple of head_count_kv");
    h.head_dim = h.n_embd / h.n_head;
    h.n_rot = static_cast<uint32_t>(Int(g, path, "mllama.rope.dimension_count", h.head_dim));
    if (h.n_rot != h.head_dim) Bad(path, "rope.dimension_count differs from the head size (partial RoPE is not mllama)");
    if (h.head_dim % 2 != 0) Bad(path, "the head size is odd");

    const int64_t id = Key(g, path, "mllama.attention.cross_attention_layers");
    if (gguf_get_kv_type(g, id) != GGUF_TYPE_ARRAY) Bad(path, "mllama.attention.cross_attention_layers is not an array");
    const size_t n = gguf_get_arr_n(g, id);
    const gguf_type type = gguf_get_arr_type(g, id);
    const void * data = gguf_get_arr_data(g, id);
    for (size_t i = 0; i < n; ++i) {
        int64_t v;
        if (type == GGUF_TYPE_INT32) v = static_cast<const int32_t *>(data)[i];
        else if (type == GGUF_TYPE_UINT32) v = static_cast<const uint32_t *>(data)[i];
        else Bad(path, "mllama.attention.cross_attention_layers must hold 32-bit integers");
        if (v < 0 || v >= h.n_block) Bad(path, "a cross-attention layer index is outside block_count");
        h.cross_layers.push_back(static_cast<int32_t>(v));
    }
    return h;
}

}  // namespace stagebeam::mllama
