#include "mllama_vision.h"

#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "addon_data.h"
#include "arguments.h"
#include "busy_worker.h"
#include "cancellation.h"
#include "errors.h"
#include "load_worker.h"

namespace stagebeam {

namespace {

// Weights and the compute buffers are both set up here, off the JS thread.
class VisionLoadWorker : public LoadWorker {
  public:
    VisionLoadWorker(Napi::Env env, std::string path, bool gpu, bool widen, int32_t threads, bool flash_attn, int64_t attention_chunk,
                     CancelFlag cancel, Napi::Function on_progress)
        : LoadWorker(env, "stagebeam.loadMllamaVision", std::move(cancel), on_progress),
          path_(std::move(path)),
          gpu_(gpu),
          widen_(widen),
          threads_(threads),
          flash_attn_(flash_attn),
          attention_chunk_(attention_chunk) {}

  protected:
    void Load() override {
        mllama::VisionWeights::Options options;
        options.gpu = gpu_;
        options.widen = widen_;
        options.progress = [this](float p) { return OnLoadProgress(p, static_cast<LoadWorker *>(this)); };
        handle_ = std::make_shared<MllamaVisionHandle>();
        handle_->weights = mllama::VisionWeights::Load(path_, options);
        handle_->encoder = std::make_unique<mllama::VisionContext>(handle_->weights, threads_, flash_attn_, attention_chunk_);
    }

    Napi::Value Result(Napi::Env env) override { return NewWrapped(Data(env).mllama_vision, env, handle_); }

  private:
    std::string path_;
    bool gpu_;
    bool widen_;
    int32_t threads_;
    bool flash_attn_;
    int64_t attention_chunk_;
    std::shared_ptr<MllamaVisionHandle> handle_;
};

class VisionEncodeWorker : public BusyWorker<MllamaVisionHandle> {
  public:
    VisionEncodeWorker(Napi::Env env, std::shared_ptr<MllamaVisionHandle> handle, std::vector<float> pixels, int32_t ar_id, int32_t real_tiles,
                       bool padding_mask, CancelFlag cancel)
        : BusyWorker(env, "stagebeam.mllamaVisionEncode", std::move(handle), std::move(cancel)),
          pixels_(std::move(pixels)),
          ar_id_(ar_id),
          real_tiles_(real_tiles),
          padding_mask_(padding_mask) {}

  protected:
    void Execute() override {
        Guarded([this] {
            states_ = context_->encoder->Encode(pixels_.data(), pixels_.size(), ar_id_, real_tiles_, cancel_.get(), padding_mask_);
            pixels_ = {};
        });
    }

    Napi::Value Result(Napi::Env env) override {
        Napi::Float32Array out = Napi::Float32Array::New(env, states_.size());
        std::memcpy(out.Data(), states_.data(), sizeof(float) * states_.size());
        return out;
    }

  private:
    std::vector<float> pixels_;
    int32_t ar_id_;
    int32_t real_tiles_;
    bool padding_mask_;
    std::vector<float> states_;
};

}  // namespace

Napi::Function MllamaVision::Init(Napi::Env env) {
    return DefineClass(env, "MllamaVision",
                       {
                           StaticMethod<&MllamaVision::Load>("load"),
                           InstanceMethod<&MllamaVision::Info>("info"),
                           InstanceMethod<&MllamaVision::Encode>("encode"),
                           InstanceMethod<&MllamaVision::Dispose>("dispose"),
                       });
}

MllamaVision::MllamaVision(const Napi::CallbackInfo & info) : Napi::ObjectWrap<MllamaVision>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) Throw(info.Env(), "INVALID_ARGUMENT", "MllamaVision objects are created by MllamaVision.load()");
    handle_ = HandleFromExternal<MllamaVisionHandle>(info[0]);
}

Napi::Value MllamaVision::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    std::string path = arguments::String(info, 0, "path");
    Napi::Object options = arguments::ObjectOr(info, 1);
    const bool gpu = arguments::Boolean(options, "gpu", true);
    const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
    const int32_t threads = static_cast<int32_t>(arguments::Integer(options, "threads", hw, 1, 1024));
    const bool flash_attn = arguments::Boolean(options, "flashAttention", false);
    const bool widen = arguments::Boolean(options, "widenWeights", false);
    // Query rows per softmax-attention chunk (0: the default); checked against the shape at load.
    const int64_t attention_chunk = arguments::Integer(options, "attentionChunk", 0, 0, 1 << 20);
    Napi::Function on_progress;
    if (info.Length() > 2 && info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());
    auto * worker = new VisionLoadWorker(env, path, gpu, widen, threads, flash_attn, attention_chunk, cancel, on_progress);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value MllamaVision::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!handle_) Throw(env, "DISPOSED", "the vision encoder has been disposed");
    const mllama::VisionWeights & w = *handle_->weights;
    const mllama::VisionHparams & hp = w.hp;
    Napi::Object out = Napi::Object::New(env);
    out.Set("imageSize", hp.image_size);
    out.Set("patchSize", hp.patch_size);
    out.Set("maxTiles", hp.max_tiles);
    out.Set("tokensPerTile", hp.Positions());
    out.Set("projectionDim", hp.projection_dim);
    Napi::Int32Array ratios = Napi::Int32Array::New(env, hp.aspect_ratios.size() * 2);
    for (size_t i = 0; i < hp.aspect_ratios.size(); ++i) {
        ratios[2 * i] = hp.aspect_ratios[i].first;
        ratios[2 * i + 1] = hp.aspect_ratios[i].second;
    }
    out.Set("supportedAspectRatios", ratios);
    Napi::Float32Array mean = Napi::Float32Array::New(env, hp.image_mean.size());
    Napi::Float32Array std = Napi::Float32Array::New(env, hp.image_std.size());
    for (size_t i = 0; i < hp.image_mean.size(); ++i) mean[i] = hp.image_mean[i];
    for (size_t i = 0; i < hp.image_std.size(); ++i) std[i] = hp.image_std[i];
    out.Set("imageMean", mean);
    out.Set("imageStd", std);
    out.Set("pairId", hp.pair_id.empty() ? env.Null() : Napi::String::New(env, hp.pair_id));
    out.Set("name", w.name);
    out.Set("parameterCount", Napi::Number::New(env, static_cast<double>(w.n_params)));
    out.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(w.n_bytes)));
    out.Set("weightsBytes", Napi::Number::New(env, static_cast<double>(w.n_resident_bytes)));
    out.Set("device", w.on_gpu ? ggml_backend_dev_name(w.device) : "CPU");
    out.Set("threads", handle_->encoder->threads());
    out.Set("flashAttention", handle_->encoder->flash_attn());
    out.Set("attentionChunk", Napi::Number::New(env, static_cast<double>(handle_->encoder->attention_chunk())));
    Napi::Object compute = Napi::Object::New(env);
    for (const auto & [backend, bytes] : handle_->encoder->ComputeBuffers()) compute.Set(backend, Napi::Number::New(env, static_cast<double>(bytes)));
    out.Set("computeBufferBytes", compute);
    return out;
}

Napi::Value MllamaVision::Encode(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!handle_) Throw(env, "DISPOSED", "the vision encoder has been disposed");
    if (handle_->busy.load()) Throw(env, "CONTEXT_BUSY", "the vision encoder is encoding another image: await it first (one encode at a time)");
    const mllama::VisionHparams & hp = handle_->weights->hp;
    if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        Throw(env, "INVALID_ARGUMENT", "pixels must be a Float32Array");
    }
    Napi::Float32Array pixels = info[0].As<Napi::Float32Array>();
    if (pixels.ElementLength() != hp.PixelCount()) {
        Throw(env, "INVALID_ARGUMENT", "pixels must hold " + std::to_string(hp.PixelCount()) + " floats ([" + std::to_string(hp.max_tiles) + " tiles, " +
                                           std::to_string(hp.channels) + ", " + std::to_string(hp.image_size) + ", " + std::to_string(hp.image_size) +
                                           "]), got " + std::to_string(pixels.ElementLength()));
    }
    const int32_t ar_id = arguments::IntegerArg(info, 1, "aspectRatioId", 1, static_cast<int64_t>(hp.aspect_ratios.size()));
    const int32_t real_tiles = arguments::IntegerArg(info, 2, "realTiles", 1, hp.max_tiles);
    // Copied out: the worker thread never touches JS memory.
    std::vector<float> copy(pixels.Data(), pixels.Data() + pixels.ElementLength());
    for (float v : copy) {
        if (!std::isfinite(v)) Throw(env, "INVALID_ARGUMENT", "pixels must be finite numbers");
    }
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());
    // Tests only: { paddingMask: false } drops the padding attention mask, to prove the parity test sees it.
    Napi::Object debug = arguments::ObjectOr(info, 4);
    const bool padding_mask = arguments::Boolean(debug, "paddingMask", true);
    auto * worker = new VisionEncodeWorker(env, handle_, std::move(copy), ar_id, real_tiles, padding_mask, cancel);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value MllamaVision::Dispose(const Napi::CallbackInfo & info) {
    if (handle_ && handle_->busy.load()) Throw(info.Env(), "CONTEXT_BUSY", "the vision encoder is encoding an image: await it (or abort it) before disposing");
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace stagebeam
