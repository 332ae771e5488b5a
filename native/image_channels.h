// decodeImageChannels(bytes) → Promise<{ width, height, data }>: jpg/png/bmp/gif decoded with their alpha
// channel kept (RGBA when the image has one, else RGB). libmtmd decodes to RGB only, which drops
// transparency; the mllama engine composites transparent pixels on white as transformers does, so it
// decodes with this instead.
#pragma once

#include <napi.h>

namespace stagebeam {

Napi::Value DecodeImageChannels(const Napi::CallbackInfo & info);

}  // namespace stagebeam
