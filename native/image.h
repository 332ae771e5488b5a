#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

// Image: decoded RGB pixels. `id` is the content hash used for caching (set by JS). Made by a libmtmd
// Projector, or without one (Image.decode, Image.fromRgb) for engines that preprocess images themselves
// (mllama).
class Image : public Napi::ObjectWrap<Image> {
  public:
    static Napi::Function Init(Napi::Env env);
    // decode(bytes) → Promise<Image>; fromRgb(width, height, rgb) → Image
    static Napi::Value Decode(const Napi::CallbackInfo & info);
    static Napi::Value FromRgb(const Napi::CallbackInfo & info);
    static std::shared_ptr<ImageHandle> HandleOf(Napi::Value value);
    explicit Image(const Napi::CallbackInfo & info);

  private:
    Napi::Value Width(const Napi::CallbackInfo & info);
    Napi::Value Height(const Napi::CallbackInfo & info);
    Napi::Value Pixels(const Napi::CallbackInfo & info);
    Napi::Value GetId(const Napi::CallbackInfo & info);
    void SetId(const Napi::CallbackInfo & info, const Napi::Value & value);

    std::shared_ptr<ImageHandle> handle_;
};

// Decodes encoded bytes (jpg/png/bmp/gif, stb_image through libmtmd's helper) on a worker thread.
// `owner` is kept alive while it runs; `ctx` may be null, for images only.
Napi::Value DecodeImageBytes(Napi::Env env, Napi::Value bytes, std::shared_ptr<void> owner, const mtmd_context * ctx);
// (width, height, rgb: Uint8Array) → Image
Napi::Value ImageFromRgbArguments(const Napi::CallbackInfo & info);

}  // namespace stagebeam
