// Per-environment state: the JS constructors native code needs to create wrapped objects
// (a loaded Model, a Context, a cloned Sampler). Kept per napi_env so worker_threads each get their own.
#pragma once

#include <napi.h>

namespace stagebeam {

struct AddonData {
    Napi::FunctionReference model;
    Napi::FunctionReference context;
    Napi::FunctionReference sampler;
    Napi::FunctionReference cancellation;
};

inline AddonData & Data(Napi::Env env) { return *env.GetInstanceData<AddonData>(); }

}  // namespace stagebeam
