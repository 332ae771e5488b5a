#include "cancellation.h"

#include "addon_data.h"
#include "errors.h"

namespace stagebeam {

Napi::Function Cancellation::Init(Napi::Env env) {
    return DefineClass(env, "Cancellation",
                       {
                           InstanceMethod<&Cancellation::Cancel>("cancel"),
                           InstanceAccessor<&Cancellation::IsCancelled>("cancelled"),
                       });
}

Cancellation::Cancellation(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Cancellation>(info) {}

Napi::Value Cancellation::Cancel(const Napi::CallbackInfo & info) {
    flag_->store(true);
    return info.Env().Undefined();
}

Napi::Value Cancellation::IsCancelled(const Napi::CallbackInfo & info) {
    return Napi::Boolean::New(info.Env(), flag_->load());
}

CancelFlag Cancellation::FlagOf(Napi::Value value) {
    if (value.IsObject() && value.As<Napi::Object>().InstanceOf(Data(value.Env()).cancellation.Value())) {
        return Cancellation::Unwrap(value.As<Napi::Object>())->flag_;
    }
    if (!value.IsUndefined() && !value.IsNull()) {
        Throw(value.Env(), "INVALID_ARGUMENT", "expected a Cancellation");
    }
    return std::make_shared<std::atomic<bool>>(false);
}

}  // namespace stagebeam
