#include "encode_rows.h"

#include <map>
#include <string>

#include "arguments.h"
#include "errors.h"
#include "ggml.h"

namespace stagebeam {

Napi::Value EncodeRows(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    static const std::map<std::string, ggml_type> kTypes = {
        {"f16", GGML_TYPE_F16}, {"bf16", GGML_TYPE_BF16}, {"q8_0", GGML_TYPE_Q8_0}, {"q4_0", GGML_TYPE_Q4_0},
        {"q4_k", GGML_TYPE_Q4_K}, {"q6_k", GGML_TYPE_Q6_K},
    };
    const std::string name = arguments::String(info, 0, "type");
    auto it = kTypes.find(name);
    if (it == kTypes.end()) Throw(env, "INVALID_ARGUMENT", "type must be one of f16, bf16, q8_0, q4_0, q4_k, q6_k");
    const ggml_type type = it->second;
    if (info.Length() < 2 || !info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        Throw(env, "INVALID_ARGUMENT", "values must be a Float32Array");
    }
    Napi::Float32Array values = info[1].As<Napi::Float32Array>();
    const int64_t row = arguments::IntegerArg(info, 2, "rowLength", 1, INT32_MAX);
    const int64_t n = static_cast<int64_t>(values.ElementLength());
    if (row % ggml_blck_size(type) != 0) {
        Throw(env, "INVALID_ARGUMENT", "rowLength must be a multiple of " + std::to_string(ggml_blck_size(type)) + " for " + name);
    }
    if (n % row != 0) Throw(env, "INVALID_ARGUMENT", "the number of values must be a multiple of rowLength");
    const int64_t rows = n / row;
    Napi::Uint8Array out = Napi::Uint8Array::New(env, ggml_row_size(type, row) * static_cast<size_t>(rows));
    if (rows > 0) {
        if (type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(values.Data(), reinterpret_cast<ggml_fp16_t *>(out.Data()), n);
        } else if (type == GGML_TYPE_BF16) {
            ggml_fp32_to_bf16_row_ref(values.Data(), reinterpret_cast<ggml_bf16_t *>(out.Data()), n);
        } else {
            ggml_quantize_chunk(type, values.Data(), out.Data(), 0, rows, row, nullptr);
        }
    }
    return out;
}

}  // namespace stagebeam
