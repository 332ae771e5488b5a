// quantize(input, output, { type, threads }, cancellation?) → Promise<void>: llama.cpp's model
// quantizer (llama_model_quantize) on a worker thread, for making Q4_0/Q8_0/… GGUFs from F32/F16 ones
// (the benchmark's realistic random-weight models; users converting their own).
#pragma once

#include <napi.h>

namespace stagebeam {

Napi::Value Quantize(const Napi::CallbackInfo & info);

}  // namespace stagebeam
