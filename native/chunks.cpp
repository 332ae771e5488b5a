#include "chunks.h"

#include <algorithm>

#include "addon_data.h"
#include "errors.h"

namespace stagebeam {

Napi::Function Chunks::Init(Napi::Env env) {
    return DefineClass(env, "Chunks", {InstanceMethod<&Chunks::Describe>("describe")});
}

Chunks::Chunks(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Chunks>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) Throw(info.Env(), "INVALID_ARGUMENT", "Chunks are created by projector.tokenize()");
    handle_ = HandleFromExternal<ChunksHandle>(info[0]);
}

std::shared_ptr<ChunksHandle> Chunks::HandleOf(Napi::Value value) {
    Napi::Env env = value.Env();
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).chunks.Value())) {
        Throw(env, "INVALID_ARGUMENT", "expected native Chunks");
    }
    return Napi::ObjectWrap<Chunks>::Unwrap(value.As<Napi::Object>())->handle_;
}

// describe() → [{ type: "text", tokens } | { type: "image" | "audio", id, tokens: n, positions: n }]
Napi::Value Chunks::Describe(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    const size_t n = mtmd_input_chunks_size(handle_->chunks);
    Napi::Array out = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; ++i) {
        const mtmd_input_chunk * chunk = mtmd_input_chunks_get(handle_->chunks, i);
        Napi::Object o = Napi::Object::New(env);
        const auto type = mtmd_input_chunk_get_type(chunk);
        if (type == MTMD_INPUT_CHUNK_TYPE_TEXT) {
            size_t count = 0;
            const llama_token * tokens = mtmd_input_chunk_get_tokens_text(chunk, &count);
            Napi::Int32Array t = Napi::Int32Array::New(env, count);
            std::copy(tokens, tokens + count, t.Data());
            o.Set("type", "text");
            o.Set("tokens", t);
        } else {
            const char * id = mtmd_input_chunk_get_id(chunk);
            o.Set("type", type == MTMD_INPUT_CHUNK_TYPE_IMAGE ? "image" : "audio");
            o.Set("id", id ? id : "");
            o.Set("tokens", Napi::Number::New(env, static_cast<double>(mtmd_input_chunk_get_n_tokens(chunk))));
            o.Set("positions", Napi::Number::New(env, mtmd_input_chunk_get_n_pos(chunk)));
        }
        out.Set(static_cast<uint32_t>(i), o);
    }
    return out;
}

}  // namespace stagebeam
