#pragma once

#include <napi.h>

#include <memory>

#include "handles.h"

namespace stagebeam {

// Image: decoded RGB pixels. `id` is the content hash used for caching (set by JS).
class Image : public Napi::ObjectWrap<Image> {
  public:
    static Napi::Function Init(Napi::Env env);
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

}  // namespace stagebeam
