#include "image.h"

#include <algorithm>
#include <string>

#include "addon_data.h"
#include "errors.h"

namespace stagebeam {

Napi::Function Image::Init(Napi::Env env) {
    return DefineClass(env, "Image",
                       {
                           InstanceAccessor<&Image::Width>("width"),
                           InstanceAccessor<&Image::Height>("height"),
                           InstanceAccessor<&Image::GetId, &Image::SetId>("id"),
                           InstanceMethod<&Image::Pixels>("pixels"),
                       });
}

Image::Image(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Image>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) Throw(info.Env(), "INVALID_ARGUMENT", "Image objects are created by a Projector");
    handle_ = HandleFromExternal<ImageHandle>(info[0]);
}

std::shared_ptr<ImageHandle> Image::HandleOf(Napi::Value value) {
    Napi::Env env = value.Env();
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).image.Value())) {
        Throw(env, "INVALID_ARGUMENT", "expected a native Image");
    }
    return Napi::ObjectWrap<Image>::Unwrap(value.As<Napi::Object>())->handle_;
}

Napi::Value Image::Width(const Napi::CallbackInfo & info) { return Napi::Number::New(info.Env(), mtmd_bitmap_get_nx(handle_->bitmap)); }

Napi::Value Image::Height(const Napi::CallbackInfo & info) { return Napi::Number::New(info.Env(), mtmd_bitmap_get_ny(handle_->bitmap)); }

// pixels() → Uint8Array copy of the RGB data (JS hashes it into the image id).
Napi::Value Image::Pixels(const Napi::CallbackInfo & info) {
    const size_t n = mtmd_bitmap_get_n_bytes(handle_->bitmap);
    Napi::Uint8Array out = Napi::Uint8Array::New(info.Env(), n);
    std::copy(mtmd_bitmap_get_data(handle_->bitmap), mtmd_bitmap_get_data(handle_->bitmap) + n, out.Data());
    return out;
}

Napi::Value Image::GetId(const Napi::CallbackInfo & info) {
    const char * id = mtmd_bitmap_get_id(handle_->bitmap);
    return Napi::String::New(info.Env(), id ? id : "");
}

void Image::SetId(const Napi::CallbackInfo & info, const Napi::Value & value) {
    if (!value.IsString()) Throw(info.Env(), "INVALID_ARGUMENT", "an image id is a string");
    mtmd_bitmap_set_id(handle_->bitmap, value.As<Napi::String>().Utf8Value().c_str());
}

}  // namespace stagebeam
