// Base for every asynchronous native call: runs on a libuv worker thread and settles a Promise.
// A NativeError thrown by the body becomes a JS error with the same code; anything else becomes INTERNAL.
#pragma once

#include <napi.h>

#include <exception>
#include <string>

#include "errors.h"

namespace stagebeam {

template <typename Base = Napi::AsyncWorker>
class PromiseWorker : public Base {
  public:
    explicit PromiseWorker(Napi::Env env, const char * name = "stagebeam")
        : Base(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}

    Napi::Promise Promise() { return deferred_.Promise(); }

  protected:
    // JS thread, after success.
    virtual Napi::Value Result(Napi::Env env) = 0;

    void Fail(const std::string & code, const std::string & message) {
        code_ = code;
        this->SetError(message);
    }

    void OnOK() override {
        Napi::Env env = this->Env();
        Napi::HandleScope scope(env);
        try {
            deferred_.Resolve(Result(env));
        } catch (const Napi::Error & error) {
            deferred_.Reject(error.Value());
        }
    }

    void OnError(const Napi::Error & error) override {
        Napi::Env env = this->Env();
        Napi::HandleScope scope(env);
        deferred_.Reject(MakeError(env, code_, error.Message()).Value());
    }

    Napi::Promise::Deferred deferred_;
    std::string code_ = "INTERNAL";

    // Derived workers run their body through this on the worker thread (from Execute): a NativeError
    // thrown there rejects with its code.
    template <typename F>
    void Guarded(F && body) {
        try {
            body();
        } catch (const NativeError & error) {
            Fail(error.code(), error.what());
        } catch (const std::exception & error) {
            Fail("INTERNAL", std::string("internal error: ") + error.what());
        } catch (...) {
            Fail("INTERNAL", "internal error");
        }
    }
};

}  // namespace stagebeam
