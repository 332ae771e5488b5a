// Module entry: registers the native classes and the process-wide llama.cpp set-up.
//
// Exports: Model, Context, Sampler, Cancellation, Projector, MllamaModel, MllamaContext, MllamaVision, loadBackends(dir),
// systemInfo(), handleCounts(), deviceMemory(), rpcProtocol(), maxSequences(), quantize(input, output, options),
// encodeRows(type, values, rowLength).
#include <napi.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "addon_data.h"
#include "allocator_tuning.h"
#include "arguments.h"
#include "cancellation.h"
#include "chunks.h"
#include "image.h"
#include "image_channels.h"
#include "context.h"
#include "encode_rows.h"
#include "errors.h"
#include "handle_counts.h"
#include "ggml-backend.h"
#include "ggml-rpc.h"
#include "llama.h"
#include "log_capture.h"
#include "mllama_context.h"
#include "mllama_model.h"
#include "mllama_vision.h"
#include "model.h"
#include "projector.h"
#include "quantize.h"
#include "sampler.h"

namespace stagebeam {

namespace {

std::once_flag backend_once;

// A device's kind as the JS side names it ("cpu", "gpu", "igpu", "accel").
const char * DeviceTypeName(ggml_backend_dev_t dev) {
    switch (ggml_backend_dev_type(dev)) {
        case GGML_BACKEND_DEVICE_TYPE_GPU: return "gpu";
        case GGML_BACKEND_DEVICE_TYPE_IGPU: return "igpu";
        case GGML_BACKEND_DEVICE_TYPE_ACCEL: return "accel";
        default: return "cpu";
    }
}

// loadBackends(dir): with GGML_BACKEND_DL the CPU variants (and GPU backends) are separate shared
// libraries beside the addon; ggml would look beside the executable (node), so JS passes the addon's
// folder. Runs once per process; later calls report what is registered.
Napi::Value LoadBackends(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    std::string dir = arguments::String(info, 0, "dir");
    std::call_once(backend_once, [&] {
        ggml_backend_load_all_from_path(dir.c_str());
        llama_backend_init();
    });
    Napi::Array devices = Napi::Array::New(env);
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        Napi::Object d = Napi::Object::New(env);
        d.Set("name", ggml_backend_dev_name(dev));
        d.Set("description", ggml_backend_dev_description(dev));
        d.Set("type", DeviceTypeName(dev));
        devices.Set(static_cast<uint32_t>(i), d);
    }
    if (ggml_backend_dev_count() == 0) {
        Throw(env, "NO_BACKEND", "no ggml backend could be loaded from " + dir + ": the libggml-cpu-*.so files must sit beside the addon");
    }
    return devices;
}

Napi::Value SystemInfo(const Napi::CallbackInfo & info) {
    return Napi::String::New(info.Env(), llama_print_system_info());
}

// The names llama.cpp's own chat renderer knows ("chatml", "llama3", …): what a user can pass instead of
// a Jinja template for a model whose file has none.
Napi::Value ChatTemplateNames(const Napi::CallbackInfo & info) {
    const int32_t n = llama_chat_builtin_templates(nullptr, 0);
    std::vector<const char *> names(static_cast<size_t>(std::max(n, 0)));
    llama_chat_builtin_templates(names.data(), names.size());
    Napi::Array out = Napi::Array::New(info.Env(), names.size());
    for (size_t i = 0; i < names.size(); ++i) out.Set(static_cast<uint32_t>(i), names[i]);
    return out;
}

// handleCounts() → { models, contexts, … }: live native handles of each kind (handle_counts.h).
Napi::Value HandleCounts(const Napi::CallbackInfo & info) {
    static const char * const names[] = {"models", "contexts", "samplers", "projectors", "images", "chunks", "mllamaModels", "mllamaContexts", "mllamaVisions"};
    static_assert(sizeof(names) / sizeof(names[0]) == static_cast<size_t>(HandleKind::Count), "a name for every handle kind");
    Napi::Object out = Napi::Object::New(info.Env());
    for (size_t i = 0; i < static_cast<size_t>(HandleKind::Count); ++i) {
        out.Set(names[i], Napi::Number::New(info.Env(), static_cast<double>(LiveHandles(static_cast<HandleKind>(i)).load())));
    }
    return out;
}

// deviceMemory() → [{ name, type, free, total }]: what each ggml device reports now, in bytes (the CPU
// device reports physical memory as both). What to refuse for lack of it is the TypeScript side's call.
Napi::Value DeviceMemory(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
        ggml_backend_dev_t dev = ggml_backend_dev_get(i);
        size_t free = 0, total = 0;
        ggml_backend_dev_memory(dev, &free, &total);
        Napi::Object d = Napi::Object::New(env);
        d.Set("name", ggml_backend_dev_name(dev));
        d.Set("type", DeviceTypeName(dev));
        d.Set("free", static_cast<double>(free));
        d.Set("total", static_cast<double>(total));
        out.Set(static_cast<uint32_t>(i), d);
    }
    return out;
}

// The RPC protocol version this build speaks (from the pinned ggml's header): the TypeScript side checks
// a server's answer against it before ggml connects, since ggml aborts the process on a mismatch.
Napi::Value RpcProtocol(const Napi::CallbackInfo & info) {
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("major", RPC_PROTO_MAJOR_VERSION);
    out.Set("minor", RPC_PROTO_MINOR_VERSION);
    out.Set("patch", RPC_PROTO_PATCH_VERSION);
    return out;
}

Napi::Value MaxSequences(const Napi::CallbackInfo & info) {
    return Napi::Number::New(info.Env(), static_cast<double>(llama_max_parallel_sequences()));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
    InstallLogCapture();
    PinMmapThreshold();
    auto * data = new AddonData();
    env.SetInstanceData<AddonData>(data);

    Napi::Function model = Model::Init(env);
    Napi::Function context = Context::Init(env);
    Napi::Function sampler = Sampler::Init(env);
    Napi::Function cancellation = Cancellation::Init(env);
    data->model = Napi::Persistent(model);
    data->context = Napi::Persistent(context);
    data->sampler = Napi::Persistent(sampler);
    data->cancellation = Napi::Persistent(cancellation);
    Napi::Function projector = Projector::Init(env);
    Napi::Function image = Image::Init(env);
    Napi::Function chunks = Chunks::Init(env);
    data->projector = Napi::Persistent(projector);
    data->image = Napi::Persistent(image);
    data->chunks = Napi::Persistent(chunks);
    Napi::Function mllama_model = MllamaModel::Init(env);
    Napi::Function mllama_context = MllamaContext::Init(env);
    data->mllama_model = Napi::Persistent(mllama_model);
    data->mllama_context = Napi::Persistent(mllama_context);
    Napi::Function mllama_vision = MllamaVision::Init(env);
    data->mllama_vision = Napi::Persistent(mllama_vision);

    exports.Set("Model", model);
    exports.Set("Context", context);
    exports.Set("Sampler", sampler);
    exports.Set("Cancellation", cancellation);
    exports.Set("Projector", projector);
    exports.Set("Image", image);
    exports.Set("MllamaModel", mllama_model);
    exports.Set("MllamaContext", mllama_context);
    exports.Set("MllamaVision", mllama_vision);
    exports.Set("loadBackends", Napi::Function::New<LoadBackends>(env, "loadBackends"));
    exports.Set("systemInfo", Napi::Function::New<SystemInfo>(env, "systemInfo"));
    exports.Set("chatTemplateNames", Napi::Function::New<ChatTemplateNames>(env, "chatTemplateNames"));
    exports.Set("handleCounts", Napi::Function::New<HandleCounts>(env, "handleCounts"));
    exports.Set("deviceMemory", Napi::Function::New<DeviceMemory>(env, "deviceMemory"));
    exports.Set("rpcProtocol", Napi::Function::New<RpcProtocol>(env, "rpcProtocol"));
    exports.Set("maxSequences", Napi::Function::New<MaxSequences>(env, "maxSequences"));
    exports.Set("quantize", Napi::Function::New<Quantize>(env, "quantize"));
    exports.Set("encodeRows", Napi::Function::New<EncodeRows>(env, "encodeRows"));
    exports.Set("decodeImageChannels", Napi::Function::New<DecodeImageChannels>(env, "decodeImageChannels"));
    return exports;
}

}  // namespace stagebeam

static Napi::Object InitStagebeam(Napi::Env env, Napi::Object exports) { return stagebeam::Init(env, exports); }

NODE_API_MODULE(stagebeam, InitStagebeam)
