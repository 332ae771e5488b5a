#include "projector.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "addon_data.h"
#include "arguments.h"
#include "cancellation.h"
#include "errors.h"
#include "gguf.h"
#include "log_capture.h"
#include "model.h"
#include "mtmd-helper.h"
#include "load_worker.h"
#include "promise_worker.h"
#include "image.h"
#include "chunks.h"

namespace stagebeam {

namespace {

// Checks the file is an mmproj before libmtmd sees it, then loads it. libmtmd itself refuses a projector
// whose embedding size differs from the text model's; its message is kept to classify the error.
class ProjectorLoadWorker : public LoadWorker {
  public:
    ProjectorLoadWorker(Napi::Env env, std::shared_ptr<ModelHandle> model, std::string path, bool use_gpu, int threads, CancelFlag cancel,
                        Napi::Function on_progress)
        : LoadWorker(env, "stagebeam.loadProjector", std::move(cancel), on_progress), model_(std::move(model)), path_(std::move(path)),
          use_gpu_(use_gpu), threads_(threads) {}
    ~ProjectorLoadWorker() override {
        if (ctx_) mtmd_free(ctx_);
    }

  protected:
    Napi::Value Result(Napi::Env env) override {
        auto handle = std::make_shared<ProjectorHandle>(model_, ctx_);
        ctx_ = nullptr;
        return NewWrapped(Data(env).projector, env, handle);
    }

    void Load() override {
        ClearCapturedErrors();
        FILE * f = std::fopen(path_.c_str(), "rb");
        if (!f) throw NativeError("MODEL_NOT_FOUND", "cannot open projector file " + path_ + ": check the path");
        std::fclose(f);

        gguf_init_params gguf_params = {/*no_alloc =*/true, /*ctx =*/nullptr};
        gguf_context * gguf = gguf_init_from_file(path_.c_str(), gguf_params);
        if (!gguf) throw NativeError("INVALID_GGUF", path_ + " is not a valid GGUF file: re-download or re-convert the projector");
        const int64_t arch_key = gguf_find_key(gguf, "general.architecture");
        std::string arch = arch_key >= 0 && gguf_get_kv_type(gguf, arch_key) == GGUF_TYPE_STRING ? gguf_get_val_str(gguf, arch_key) : "";
        const bool has_projector_type = gguf_find_key(gguf, "clip.projector_type") >= 0 || gguf_find_key(gguf, "clip.vision.projector_type") >= 0 ||
                                        gguf_find_key(gguf, "clip.audio.projector_type") >= 0;
        gguf_free(gguf);
        if (arch != "clip" || !has_projector_type) {
            throw NativeError("INVALID_PROJECTOR", path_ + " is not a multimodal projector (general.architecture = '" + arch +
                                                       "'): pass the model's mmproj GGUF as the projector");
        }

        mtmd_context_params params = mtmd_context_params_default();
        params.use_gpu = use_gpu_;
        params.n_threads = threads_;
        params.print_timings = false;
        params.warmup = false;
        params.progress_callback = OnLoadProgress;
        params.progress_callback_user_data = static_cast<LoadWorker *>(this);
        ctx_ = mtmd_init_from_file(path_.c_str(), model_->model, params);
        if (!ctx_) {
            if (cancel_->load()) throw NativeError("ABORTED", "projector loading was aborted");
            std::string why = CapturedErrors();
            if (why.find("mismatch between text model") != std::string::npos) {
                throw NativeError("PROJECTOR_MISMATCH", "the projector does not fit this text model (" + why +
                                                            "): use the mmproj file made for this model");
            }
            throw NativeError("PROJECTOR_LOAD_FAILED", "libmtmd could not load " + path_ + (why.empty() ? "" : " (" + why + ")"));
        }
    }

  private:
    std::shared_ptr<ModelHandle> model_;
    std::string path_;
    bool use_gpu_;
    int threads_;
    mtmd_context * ctx_ = nullptr;
};

class TokenizeWorker : public PromiseWorker<> {
  public:
    TokenizeWorker(Napi::Env env, std::shared_ptr<ProjectorHandle> projector, std::string text, std::vector<std::shared_ptr<ImageHandle>> images,
                   bool add_special, bool parse_special)
        : PromiseWorker(env, "stagebeam.tokenizeMedia"), projector_(std::move(projector)), text_(std::move(text)), images_(std::move(images)),
          add_special_(add_special), parse_special_(parse_special) {}
    ~TokenizeWorker() override {
        if (chunks_) mtmd_input_chunks_free(chunks_);
    }

  protected:
    void Execute() override {
        Guarded([this] {
            ClearCapturedErrors();
            chunks_ = mtmd_input_chunks_init();
            mtmd_input_text input = {text_.c_str(), text_.size(), add_special_, parse_special_};
            std::vector<const mtmd_bitmap *> bitmaps;
            for (const auto & image : images_) bitmaps.push_back(image->bitmap);
            const int32_t rc = mtmd_tokenize(projector_->ctx, chunks_, &input, bitmaps.data(), bitmaps.size());
            std::string why = CapturedErrors();
            if (rc == 1 || why.find("number of media markers") != std::string::npos || why.find("does not match number of") != std::string::npos) {
                throw NativeError("MEDIA_MARKER_MISMATCH", "the prompt's media markers do not match the " + std::to_string(bitmaps.size()) +
                                                               " image(s) given: put one marker per image");
            }
            if (rc != 0) {
                throw NativeError("INVALID_IMAGE", "the projector could not preprocess an image" + (why.empty() ? "" : " (" + why + ")"));
            }
        });
    }

    Napi::Value Result(Napi::Env env) override {
        auto handle = std::make_shared<ChunksHandle>(projector_, chunks_);
        chunks_ = nullptr;
        return NewWrapped(Data(env).chunks, env, handle);
    }

  private:
    std::shared_ptr<ProjectorHandle> projector_;
    std::string text_;
    std::vector<std::shared_ptr<ImageHandle>> images_;
    bool add_special_;
    bool parse_special_;
    mtmd_input_chunks * chunks_ = nullptr;
};

}  // namespace

Napi::Function Projector::Init(Napi::Env env) {
    return DefineClass(env, "Projector",
                       {
                           StaticMethod<&Projector::Load>("load"),
                           InstanceMethod<&Projector::Info>("info"),
                           InstanceMethod<&Projector::DecodeImage>("decodeImage"),
                           InstanceMethod<&Projector::ImageFromRgb>("imageFromRgb"),
                           InstanceMethod<&Projector::Tokenize>("tokenize"),
                           InstanceMethod<&Projector::Dispose>("dispose"),
                       });
}

Projector::Projector(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Projector>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) {
        Throw(info.Env(), "INVALID_ARGUMENT", "Projector objects are created by model.loadProjector()");
    }
    handle_ = HandleFromExternal<ProjectorHandle>(info[0]);
}

std::shared_ptr<ProjectorHandle> Projector::HandleOf(Napi::Value value) {
    Napi::Env env = value.Env();
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).projector.Value())) {
        Throw(env, "INVALID_ARGUMENT", "expected a native Projector");
    }
    auto * self = Napi::ObjectWrap<Projector>::Unwrap(value.As<Napi::Object>());
    if (!self->handle_) Throw(env, "DISPOSED", "the projector has been disposed");
    return self->handle_;
}

Napi::Value Projector::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2) Throw(env, "INVALID_ARGUMENT", "load(model, path, options)");
    auto model = Model::Unwrap(info[0])->Handle(env);
    std::string path = arguments::String(info, 1, "path");
    Napi::Object options = arguments::ObjectOr(info, 2);
    bool use_gpu = arguments::Boolean(options, "useGpu", true);
    int threads = static_cast<int>(arguments::Integer(options, "threads", 4, 1, 1024));
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());
    Napi::Function on_progress;
    if (info.Length() > 4 && info[4].IsFunction()) on_progress = info[4].As<Napi::Function>();
    auto * worker = new ProjectorLoadWorker(env, model, path, use_gpu, threads, cancel, on_progress);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

// info() → { vision, audio, mrope, nonCausal, marker }
Napi::Value Projector::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = HandleOf(Value());
    Napi::Object out = Napi::Object::New(env);
    out.Set("vision", mtmd_support_vision(h->ctx));
    out.Set("audio", mtmd_support_audio(h->ctx));
    out.Set("mrope", mtmd_decode_use_mrope(h->ctx));
    out.Set("nonCausal", mtmd_decode_use_non_causal(h->ctx, nullptr));
    out.Set("marker", mtmd_default_marker());
    out.Set("embeddingSize", llama_model_n_embd_inp(h->model->model));
    return out;
}

// decodeImage(bytes: Uint8Array) → Promise<Image>: jpg/png/bmp/gif via stb_image.
Napi::Value Projector::DecodeImage(const Napi::CallbackInfo & info) {
    auto h = HandleOf(Value());
    return DecodeImageBytes(info.Env(), info.Length() > 0 ? info[0] : info.Env().Undefined(), h, h->ctx);
}

// imageFromRgb(width, height, rgb: Uint8Array) → Image
Napi::Value Projector::ImageFromRgb(const Napi::CallbackInfo & info) {
    HandleOf(Value());
    return ImageFromRgbArguments(info);
}

// tokenize(text, images: Image[], addSpecial, parseSpecial) → Promise<Chunks>
Napi::Value Projector::Tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = HandleOf(Value());
    std::string text = arguments::String(info, 0, "text");
    if (info.Length() < 2 || !info[1].IsArray()) Throw(env, "INVALID_ARGUMENT", "images must be an array of Image");
    Napi::Array array = info[1].As<Napi::Array>();
    std::vector<std::shared_ptr<ImageHandle>> images;
    for (uint32_t i = 0; i < array.Length(); ++i) images.push_back(Image::HandleOf(array.Get(i)));
    auto * worker = new TokenizeWorker(env, h, text, images, arguments::BooleanArg(info, 2, true), arguments::BooleanArg(info, 3, true));
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value Projector::Dispose(const Napi::CallbackInfo & info) {
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace stagebeam
