#include "image.h"

#include <algorithm>
#include <string>

#include "addon_data.h"
#include "arguments.h"
#include "errors.h"
#include "image_channels.h"
#include "log_capture.h"
#include "mtmd-helper.h"
#include "promise_worker.h"

namespace stagebeam {

namespace {

class DecodeImageWorker : public PromiseWorker<> {
  public:
    DecodeImageWorker(Napi::Env env, std::shared_ptr<void> owner, const mtmd_context * ctx, std::vector<unsigned char> bytes)
        : PromiseWorker(env, "stagebeam.decodeImage"), owner_(std::move(owner)), ctx_(ctx), bytes_(std::move(bytes)) {}
    ~DecodeImageWorker() override {
        if (bitmap_) mtmd_bitmap_free(bitmap_);
    }

  protected:
    void Execute() override {
        Guarded([this] {
            ClearCapturedErrors();
            CheckImageHeader(bytes_.data(), bytes_.size());  // a decompression bomb is refused before decoding
            mtmd_helper_bitmap_wrapper w = mtmd_helper_bitmap_init_from_buf(ctx_, bytes_.data(), bytes_.size(), false, mtmd_helper_init_opt_default());
            bitmap_ = w.bitmap;
            if (!bitmap_ || mtmd_bitmap_is_audio(bitmap_)) {
                throw NativeError("INVALID_IMAGE", "the image could not be decoded: it is corrupt, truncated or not an image");
            }
        });
    }

    Napi::Value Result(Napi::Env env) override {
        auto handle = std::make_shared<ImageHandle>(bitmap_);
        bitmap_ = nullptr;
        return NewWrapped(Data(env).image, env, handle);
    }

  private:
    std::shared_ptr<void> owner_;
    const mtmd_context * ctx_;
    std::vector<unsigned char> bytes_;
    mtmd_bitmap * bitmap_ = nullptr;
};

// What libmtmd's helper would take for audio (WAV, MP3): it asks the context for a sample rate, which
// a null context cannot answer. Images never look like this (JPEG's FF D8 is no MPEG sync word).
bool LooksLikeAudio(const unsigned char * b, size_t n) {
    if (n >= 12 && std::equal(b, b + 4, "RIFF") && std::equal(b + 8, b + 12, "WAVE")) return true;
    if (n >= 3 && std::equal(b, b + 3, "ID3")) return true;
    return n >= 2 && b[0] == 0xFF && (b[1] & 0xE0) == 0xE0;
}

}  // namespace

Napi::Value DecodeImageBytes(Napi::Env env, Napi::Value value, std::shared_ptr<void> owner, const mtmd_context * ctx) {
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        Throw(env, "INVALID_ARGUMENT", "decodeImage needs a Uint8Array of encoded image bytes");
    }
    Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
    if (bytes.ElementLength() == 0) Throw(env, "INVALID_IMAGE", "the image is empty");
    if (!ctx && LooksLikeAudio(bytes.Data(), bytes.ElementLength())) Throw(env, "INVALID_IMAGE", "these bytes are audio, not an image");
    auto * worker = new DecodeImageWorker(env, std::move(owner), ctx, std::vector<unsigned char>(bytes.Data(), bytes.Data() + bytes.ElementLength()));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value ImageFromRgbArguments(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    int32_t width = arguments::IntegerArg(info, 0, "width", 1, 1 << 15);
    int32_t height = arguments::IntegerArg(info, 1, "height", 1, 1 << 15);
    if (info.Length() < 3 || !info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        Throw(env, "INVALID_ARGUMENT", "raw images need data: a Uint8Array of RGB bytes");
    }
    Napi::Uint8Array rgb = info[2].As<Napi::Uint8Array>();
    const size_t expected = static_cast<size_t>(width) * height * 3;
    if (rgb.ElementLength() != expected) {
        Throw(env, "INVALID_IMAGE", "raw RGB data has " + std::to_string(rgb.ElementLength()) + " bytes; a " + std::to_string(width) + "x" +
                                        std::to_string(height) + " image needs " + std::to_string(expected) + " (3 bytes per pixel)");
    }
    mtmd_bitmap * bitmap = mtmd_bitmap_init(width, height, rgb.Data());
    if (!bitmap) Throw(env, "INVALID_IMAGE", "libmtmd could not create the image");
    return NewWrapped(Data(env).image, env, std::make_shared<ImageHandle>(bitmap));
}

Napi::Value Image::Decode(const Napi::CallbackInfo & info) {
    return DecodeImageBytes(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined(), nullptr, nullptr);
}

Napi::Value Image::FromRgb(const Napi::CallbackInfo & info) { return ImageFromRgbArguments(info); }

Napi::Function Image::Init(Napi::Env env) {
    return DefineClass(env, "Image",
                       {
                           StaticMethod<&Image::Decode>("decode"),
                           StaticMethod<&Image::FromRgb>("fromRgb"),
                           InstanceAccessor<&Image::Width>("width"),
                           InstanceAccessor<&Image::Height>("height"),
                           InstanceAccessor<&Image::GetId, &Image::SetId>("id"),
                           InstanceMethod<&Image::Pixels>("pixels"),
                       });
}

Image::Image(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Image>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) Throw(info.Env(), "INVALID_ARGUMENT", "Image objects are created by Image.decode, Image.fromRgb or a Projector");
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
