// Reading JS arguments into C++ values with checks: a wrong type or range becomes an INVALID_ARGUMENT
// error naming the field, never an abort inside llama.cpp.
#pragma once

#include <napi.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "errors.h"

namespace stagebeam::arguments {

inline Napi::Object ObjectOr(const Napi::CallbackInfo & info, size_t index) {
    if (info.Length() <= index || info[index].IsUndefined() || info[index].IsNull()) return Napi::Object::New(info.Env());
    if (!info[index].IsObject()) Throw(info.Env(), "INVALID_ARGUMENT", "argument " + std::to_string(index) + " must be an object");
    return info[index].As<Napi::Object>();
}

inline std::string String(const Napi::CallbackInfo & info, size_t index, const char * name) {
    if (info.Length() <= index || !info[index].IsString()) Throw(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be a string");
    return info[index].As<Napi::String>().Utf8Value();
}

inline bool Has(const Napi::Object & o, const char * key) {
    if (!o.Has(key)) return false;
    Napi::Value v = o.Get(key);
    return !v.IsUndefined() && !v.IsNull();
}

inline double Number(const Napi::Object & o, const char * key, double fallback, double min, double max) {
    if (!Has(o, key)) return fallback;
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) Throw(o.Env(), "INVALID_ARGUMENT", std::string(key) + " must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (std::isnan(d) || d < min || d > max) {
        Throw(o.Env(), "INVALID_ARGUMENT",
              std::string(key) + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + std::to_string(d));
    }
    return d;
}

inline int64_t Integer(const Napi::Object & o, const char * key, int64_t fallback, int64_t min, int64_t max) {
    double d = Number(o, key, static_cast<double>(fallback), static_cast<double>(min), static_cast<double>(max));
    if (d != std::floor(d)) Throw(o.Env(), "INVALID_ARGUMENT", std::string(key) + " must be an integer");
    return static_cast<int64_t>(d);
}

inline bool Boolean(const Napi::Object & o, const char * key, bool fallback) {
    if (!Has(o, key)) return fallback;
    Napi::Value v = o.Get(key);
    if (!v.IsBoolean()) Throw(o.Env(), "INVALID_ARGUMENT", std::string(key) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
}

inline int32_t IntegerArg(const Napi::CallbackInfo & info, size_t index, const char * name, int64_t min, int64_t max) {
    if (info.Length() <= index || !info[index].IsNumber()) Throw(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be a number");
    double d = info[index].As<Napi::Number>().DoubleValue();
    if (std::isnan(d) || d != std::floor(d) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
        Throw(info.Env(), "INVALID_ARGUMENT",
              std::string(name) + " must be an integer between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + std::to_string(d));
    }
    return static_cast<int32_t>(d);
}

inline bool BooleanArg(const Napi::CallbackInfo & info, size_t index, bool fallback) {
    if (info.Length() <= index || info[index].IsUndefined()) return fallback;
    return info[index].ToBoolean().Value();
}

// An Int32Array (copied out, so the worker thread never touches JS memory).
inline std::vector<int32_t> Int32s(Napi::Env env, Napi::Value v, const char * name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
        Throw(env, "INVALID_ARGUMENT", std::string(name) + " must be an Int32Array");
    }
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    return std::vector<int32_t>(a.Data(), a.Data() + a.ElementLength());
}

inline std::vector<uint8_t> Uint8s(Napi::Env env, Napi::Value v, const char * name) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
        Throw(env, "INVALID_ARGUMENT", std::string(name) + " must be a Uint8Array");
    }
    Napi::Uint8Array a = v.As<Napi::Uint8Array>();
    return std::vector<uint8_t>(a.Data(), a.Data() + a.ElementLength());
}

}  // namespace stagebeam::arguments
