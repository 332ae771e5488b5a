#include "image_channels.h"

#include <algorithm>
#include <cstdint>
#include <iterator>
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

bool CheckImageHeader(const unsigned char * bytes, size_t size) {
    if (size > static_cast<size_t>(INT32_MAX)) throw NativeError("INVALID_IMAGE", "the image file is over 2 GB");
    int w = 0, h = 0, channels = 0;
    // stb_image's PNG reader refuses a header over 1 GB of pixels as unreadable, and its info call then
    // falls through to the other formats: read a PNG's size from its IHDR chunk, so the error names it.
    static const unsigned char kPngSignature[] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
    const bool png = size >= 24 && std::equal(std::begin(kPngSignature), std::end(kPngSignature), bytes) && std::equal(bytes + 12, bytes + 16, "IHDR");
    if (png) {
        const auto be32 = [&](size_t at) { return (uint32_t(bytes[at]) << 24) | (uint32_t(bytes[at + 1]) << 16) | (uint32_t(bytes[at + 2]) << 8) | bytes[at + 3]; };
        w = static_cast<int>(std::min<uint32_t>(be32(16), INT32_MAX));
        h = static_cast<int>(std::min<uint32_t>(be32(20), INT32_MAX));
    } else if (!stbi_info_from_memory(bytes, static_cast<int>(size), &w, &h, &channels)) {
        return false;
    }
    if (w < 1 || h < 1 || w > kMaxImageSide || h > kMaxImageSide || static_cast<long long>(w) * h > kMaxImagePixels) {
        throw NativeError("INVALID_IMAGE", "the image is " + std::to_string(w) + "x" + std::to_string(h) + ": images may have at most " +
                                               std::to_string(kMaxImageSide) + " pixels a side and " + std::to_string(kMaxImagePixels) +
                                               " pixels in all; scale it down first");
    }
    return true;
}

namespace {

class DecodeChannelsWorker : public PromiseWorker<> {
  public:
    DecodeChannelsWorker(Napi::Env env, std::vector<unsigned char> bytes) : PromiseWorker(env, "stagebeam.decodeImageChannels"), bytes_(std::move(bytes)) {}

  protected:
    void Execute() override {
        Guarded([this] {
            if (!CheckImageHeader(bytes_.data(), bytes_.size())) {
                throw NativeError("INVALID_IMAGE", "the image could not be decoded: it is corrupt, truncated or not an image");
            }
            int w = 0, h = 0, channels = 0;
            stbi_info_from_memory(bytes_.data(), static_cast<int>(bytes_.size()), &w, &h, &channels);
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
