#include "mllama_model.h"

#include <string>

#include "addon_data.h"
#include "arguments.h"
#include "cancellation.h"
#include "errors.h"
#include "load_worker.h"

namespace stagebeam {

namespace {

class MllamaLoadWorker : public LoadWorker {
  public:
    MllamaLoadWorker(Napi::Env env, std::string path, int32_t gpu_layers, CancelFlag cancel, Napi::Function on_progress)
        : LoadWorker(env, "stagebeam.loadMllama", std::move(cancel), on_progress), path_(std::move(path)), gpu_layers_(gpu_layers) {}

  protected:
    void Load() override {
        mllama::TextWeights::Options options;
        options.gpu_layers = gpu_layers_;
        options.progress = [this](float p) { return OnLoadProgress(p, static_cast<LoadWorker *>(this)); };
        weights_ = mllama::TextWeights::Load(path_, options);
    }

    Napi::Value Result(Napi::Env env) override {
        auto handle = std::make_shared<MllamaModelHandle>();
        handle->weights = std::move(weights_);
        return NewWrapped(Data(env).mllama_model, env, handle);
    }

  private:
    std::string path_;
    int32_t gpu_layers_;
    std::unique_ptr<mllama::TextWeights> weights_;
};

}  // namespace

Napi::Function MllamaModel::Init(Napi::Env env) {
    return DefineClass(env, "MllamaModel",
                       {
                           StaticMethod<&MllamaModel::Load>("load"),
                           InstanceMethod<&MllamaModel::Metadata>("metadata"),
                           InstanceMethod<&MllamaModel::Dispose>("dispose"),
                       });
}

MllamaModel::MllamaModel(const Napi::CallbackInfo & info) : Napi::ObjectWrap<MllamaModel>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) Throw(info.Env(), "INVALID_ARGUMENT", "MllamaModel objects are created by loadModel()");
    handle_ = HandleFromExternal<MllamaModelHandle>(info[0]);
}

MllamaModel * MllamaModel::Unwrap(Napi::Value value) {
    Napi::Env env = value.Env();
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).mllama_model.Value())) {
        Throw(env, "INVALID_ARGUMENT", "expected a native MllamaModel");
    }
    return Napi::ObjectWrap<MllamaModel>::Unwrap(value.As<Napi::Object>());
}

std::shared_ptr<MllamaModelHandle> MllamaModel::Handle(Napi::Env env) const {
    if (!handle_) Throw(env, "DISPOSED", "the model has been disposed");
    return handle_;
}

Napi::Value MllamaModel::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    std::string path = arguments::String(info, 0, "path");
    Napi::Object options = arguments::ObjectOr(info, 1);
    const int32_t gpu_layers = static_cast<int32_t>(arguments::Integer(options, "gpuLayers", -1, -1, 1 << 20));
    Napi::Function on_progress;
    if (info.Length() > 2 && info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());
    auto * worker = new MllamaLoadWorker(env, path, gpu_layers, cancel, on_progress);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

// The shape of the model as the JS Model reports it; vocabulary facts come from the vocabulary model.
Napi::Value MllamaModel::Metadata(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    const mllama::TextWeights & w = *Handle(env)->weights;
    const mllama::TextHparams & hp = w.hp;
    Napi::Object out = Napi::Object::New(env);
    out.Set("architecture", "mllama");
    out.Set("name", w.name);
    out.Set("parameterCount", Napi::Number::New(env, static_cast<double>(w.n_params)));
    out.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(w.n_bytes)));
    out.Set("contextLength", hp.n_ctx_train);
    out.Set("embeddingSize", hp.n_embd);
    out.Set("layerCount", hp.n_block);
    out.Set("headCount", hp.n_head);
    out.Set("kvHeadCount", hp.n_head_kv);
    out.Set("outputVocabSize", hp.n_vocab_out);
    out.Set("embeddingRows", w.n_embd_rows);
    Napi::Array cross = Napi::Array::New(env, hp.cross_layers.size());
    for (size_t i = 0; i < hp.cross_layers.size(); ++i) cross.Set(static_cast<uint32_t>(i), hp.cross_layers[i]);
    out.Set("crossAttentionLayers", cross);
    out.Set("device", w.gpu ? ggml_backend_dev_name(w.gpu) : "CPU");
    Napi::Object meta = Napi::Object::New(env);
    for (const auto & [key, value] : w.meta) meta.Set(key, value);
    out.Set("meta", meta);
    return out;
}

Napi::Value MllamaModel::Dispose(const Napi::CallbackInfo & info) {
    handle_.reset();  // contexts keep their own reference
    return info.Env().Undefined();
}

}  // namespace stagebeam
