// decodeImageChannels(bytes) → Promise<{ width, height, data }>: jpg/png/bmp/gif decoded with their alpha
// channel kept (RGBA when the image has one, else RGB). libmtmd decodes to RGB only, which drops
// transparency; the mllama engine composites transparent pixels on white as transformers does, so it
// decodes with this instead.
#pragma once

#include <napi.h>

namespace stagebeam {

Napi::Value DecodeImageChannels(const Napi::CallbackInfo & info);

// Reads the size from an encoded image's header and throws INVALID_IMAGE, before anything is decoded,
// when it is over the limits below: a few bytes can claim 65535×65535 pixels (a decompression bomb: 12 GB
// once decoded). Returns false when the bytes are no format stb_image knows (the caller's decoder decides).
constexpr int kMaxImageSide = 1 << 15;
constexpr long long kMaxImagePixels = 1LL << 27;  // 134 M pixels, e.g. 16384 × 8192: 400 MB as RGB
bool CheckImageHeader(const unsigned char * bytes, size_t size);

}  // namespace stagebeam
