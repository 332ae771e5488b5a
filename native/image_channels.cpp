#include "image_channels.h"

#include <string>
#include <vector>

#include "errors.h"
#include "promise_worker.h"

// A private copy of stb_image (static linkage: no clash with the one inside libmtmd); its unused
// functions are not our warnings.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "stb/stb_image.h"
#pragma GCC diagnostic pop

namespace stagebeam {

namespace {

class DecodeChannelsWorker : public PromiseWorker<> {
  public:
    DecodeChannelsWorker(Napi::Env env, std::vector<unsigned char> bytes) : PromiseWorker(env, "stagebeam.decodeImageChannels"), bytes_(std::move(bytes)) {}

  protected:
    void Execute() override {
        Guarded([this] {
            int w = 0, h = 0, channels = 0;
            if (!stbi_info_from_memory(bytes_.data(), static_cast<int>(bytes_.size()), &w, &h, &channels)) {
                throw NativeError("INVALID_IMAGE", "the image could not be decoded: it is corrupt, truncated or not an image");
            }
            if (w < 1 || h < 1 || w > (1 << 15) || h > (1 << 15)) {
                throw NativeError("INVALID_IMAGE", "the image is " + std::to_string(w) + "x" + std::to_string(h) + ": at most 32768 pixels a side");
            }
            // Gray and gray+alpha widen to RGB and RGBA (as Pillow's convert does); alpha is kept.
            const int want = channels == 2 || channels == 4 ? 4 : 3;
            stbi_uc * data = stbi_load_from_memory(bytes_.data(), static_cast<int>(bytes_.size()), &w, &h, &channels, want);
            if (!data) throw NativeError("INVALID_IMAGE", "the image could not be decoded: it is corrupt, truncated or not an image");
            width_ = w;
            height_ = h;
            pixels_.assign(data, data + static_cast<size_t>(w) * h * want);
            stbi_image_free(data);
        });
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Object out = Napi::Object::New(env);
        out.Set("width", width_);
        out.Set("height", height_);
        Napi::Uint8Array data = Napi::Uint8Array::New(env, pixels_.size());
        std::copy(pixels_.begin(), pixels_.end(), data.Data());
        out.Set("data", data);
        return out;
    }

  private:
    std::vector<unsigned char> bytes_;
    int width_ = 0;
    int height_ = 0;
    std::vector<unsigned char> pixels_;
};

}  // namespace

Napi::Value DecodeImageChannels(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        Throw(env, "INVALID_ARGUMENT", "decodeImageChannels needs a Uint8Array of encoded image bytes");
    }
    Napi::Uint8Array bytes = info[0].As<Napi::Uint8Array>();
    if (bytes.ElementLength() == 0) Throw(env, "INVALID_IMAGE", "the image is empty");
    auto * worker = new DecodeChannelsWorker(env, std::vector<unsigned char>(bytes.Data(), bytes.Data() + bytes.ElementLength()));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

}  // namespace stagebeam
