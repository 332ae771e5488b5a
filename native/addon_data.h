// Per-environment state: the JS constructors native code needs to create wrapped objects
// (a loaded Model, a Context, a cloned Sampler). Kept per napi_env so worker_threads each get their own.
#pragma once

#include <napi.h>

#include <memory>
#include <utility>

namespace stagebeam {

struct AddonData {
    Napi::FunctionReference model;
    Napi::FunctionReference context;
    Napi::FunctionReference sampler;
    Napi::FunctionReference cancellation;
    Napi::FunctionReference projector;
    Napi::FunctionReference image;
    Napi::FunctionReference chunks;
    Napi::FunctionReference mllama_model;
    Napi::FunctionReference mllama_context;
    Napi::FunctionReference mllama_vision;
};

inline AddonData & Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

// Native objects are created from C++ only: the constructor receives the shared handle in an External,
// which JS code cannot forge.
template <typename Handle>
Napi::Object NewWrapped(Napi::FunctionReference & constructor, Napi::Env env, std::shared_ptr<Handle> handle) {
    auto * owned = new std::shared_ptr<Handle>(std::move(handle));
    return constructor.New({Napi::External<std::shared_ptr<Handle>>::New(env, owned, [](Napi::Env, std::shared_ptr<Handle> * p) { delete p; })});
}

// Moves the handle out of the External: the wrapped object becomes its only owner, so its dispose()
// frees the native object at once. (A copy would leave the External owning it until the garbage collector
// finalizes it, which for a context's KV cache could be never, as V8 does not see native memory.)
template <typename Handle>
std::shared_ptr<Handle> HandleFromExternal(Napi::Value value) {
    return std::move(*value.As<Napi::External<std::shared_ptr<Handle>>>().Data());
}


}  // namespace stagebeam
