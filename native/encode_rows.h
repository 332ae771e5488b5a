// encodeRows(type, values: Float32Array, rowLength) → Uint8Array: ggml's own encoding of tensor rows
// (F16 conversion, Q8_0 and other quantizations through ggml_quantize_chunk). The converter writes
// these formats in TypeScript; tests hold its bytes against ggml's, and the mllama quantizer (llama.cpp's
// cannot open an architecture it does not know) will use the same entry.
#pragma once

#include <napi.h>

namespace stagebeam {

Napi::Value EncodeRows(const Napi::CallbackInfo & info);

}  // namespace stagebeam
