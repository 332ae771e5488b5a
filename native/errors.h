// Typed errors: every failure that reaches JS carries a stable `code` that lib/errors.ts maps to an
// error class. Messages say what to do.
#pragma once

#include <napi.h>

#include <stdexcept>
#include <string>

namespace stagebeam {

// Thrown on worker threads and in bindings; carries the code across to the JS error.
class NativeError : public std::runtime_error {
  public:
    NativeError(std::string code, const std::string & message) : std::runtime_error(message), code_(std::move(code)) {}
    const std::string & code() const { return code_; }

  private:
    std::string code_;
};

inline Napi::Error MakeError(Napi::Env env, const std::string & code, const std::string & message) {
    Napi::Error error = Napi::Error::New(env, message);
    error.Set("code", Napi::String::New(env, code));
    return error;
}

[[noreturn]] inline void Throw(Napi::Env env, const std::string & code, const std::string & message) {
    throw MakeError(env, code, message);
}

}  // namespace stagebeam
