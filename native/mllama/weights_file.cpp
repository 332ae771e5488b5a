#include "weights_file.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "../errors.h"
#include "ggml-alloc.h"

namespace stagebeam::mllama {

namespace {

std::string Dims(const int64_t * ne) {
    return "[" + std::to_string(ne[0]) + ", " + std::to_string(ne[1]) + ", " + std::to_string(ne[2]) + ", " + std::to_string(ne[3]) + "]";
}

}  // namespace

WeightsFile::WeightsFile(const std::string & path, const char * noun, const char * load_failed) : path_(path), noun_(noun), load_failed_(load_failed) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) throw NativeError("MODEL_NOT_FOUND", std::string("cannot open ") + noun + " file " + path + ": check the path");
    gguf_ = gguf_init_from_file(path.c_str(), {/*no_alloc =*/true, /*ctx =*/&meta_});
    if (!gguf_) throw NativeError("INVALID_GGUF", path + " is not a valid GGUF file: it may be truncated or another format; re-convert it");
    // ggml's reader checks the header; a file cut short inside the tensor data is found here.
    size_t needed = gguf_get_data_offset(gguf_);
    for (int64_t i = 0; i < gguf_get_n_tensors(gguf_); ++i) {
        needed = std::max(needed, gguf_get_data_offset(gguf_) + gguf_get_tensor_offset(gguf_, i) + gguf_get_tensor_size(gguf_, i));
    }
    const auto size = std::filesystem::file_size(path, error);
    if (!error && size < needed) {
        gguf_free(gguf_);
        ggml_free(meta_);
        throw NativeError("INVALID_GGUF", path + " is truncated: its tensors need " + std::to_string(needed) + " bytes but the file has " +
                                              std::to_string(size) + "; re-convert or re-download it");
    }
}

WeightsFile::~WeightsFile() {
    for (auto & [buft, c] : ctxs_) ggml_free(c);
    if (gguf_) gguf_free(gguf_);
    if (meta_) ggml_free(meta_);
}

std::string WeightsFile::String(const char * key) const {
    const int64_t id = gguf_find_key(gguf_, key);
    if (id < 0 || gguf_get_kv_type(gguf_, id) != GGUF_TYPE_STRING) return "";
    return gguf_get_val_str(gguf_, id);
}

void WeightsFile::Bad(const std::string & what) const {
    throw NativeError("INVALID_GGUF", path_ + " is not a usable mllama " + noun_ + ": " + what + "; re-convert it with `stagebeam convert`");
}

ggml_tensor * WeightsFile::Take(const std::string & name, std::initializer_list<int64_t> dims, bool f32, ggml_backend_dev_t dev, bool required) {
    const int64_t id = gguf_find_tensor(gguf_, name.c_str());
    if (id < 0) {
        if (!required) return nullptr;
        Bad("the tensor " + name + " is missing");
    }
    ggml_tensor * meta = ggml_get_tensor(meta_, name.c_str());
    int64_t want[4] = {1, 1, 1, 1};
    std::copy(dims.begin(), dims.end(), want);
    for (int d = 0; d < 4; ++d) {
        if (want[d] >= 0 && meta->ne[d] != want[d]) Bad("the tensor " + name + " has shape " + Dims(meta->ne) + ", expected " + Dims(want));
    }
    if (f32 && meta->type != GGML_TYPE_F32) Bad("the tensor " + name + " must be F32 (it is " + ggml_type_name(meta->type) + ")");
    ggml_backend_buffer_type_t buft = ggml_backend_dev_buffer_type(dev);
    auto it = std::find_if(ctxs_.begin(), ctxs_.end(), [buft](const auto & e) { return e.first == buft; });
    if (it == ctxs_.end()) {
        const size_t n_tensors = static_cast<size_t>(gguf_get_n_tensors(gguf_));
        ggml_context * c = ggml_init({ggml_tensor_overhead() * (n_tensors + 1), nullptr, /*no_alloc =*/true});
        if (!c) throw NativeError(load_failed_, "out of memory creating the tensor table");
        ctxs_.emplace_back(buft, c);
        it = ctxs_.end() - 1;
    }
    ggml_tensor * t = ggml_dup_tensor(it->second, meta);
    ggml_set_name(t, name.c_str());
    pending_.push_back({t, gguf_get_data_offset(gguf_) + gguf_get_tensor_offset(gguf_, id)});
    n_params_ += static_cast<uint64_t>(ggml_nelements(meta));
    n_bytes_ += ggml_nbytes(meta);
    return t;
}

void WeightsFile::Load(const std::function<bool(float)> & progress, std::vector<ggml_context *> & ctxs, std::vector<ggml_backend_buffer_t> & buffers) {
    // The contexts become the caller's first, so nothing leaks whichever allocation fails.
    std::vector<std::pair<ggml_backend_buffer_type_t, ggml_context *>> declared;
    declared.swap(ctxs_);
    for (auto & [buft, c] : declared) ctxs.push_back(c);
    for (auto & [buft, c] : declared) {
        ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors_from_buft(c, buft);
        if (!buf) {
            throw NativeError(load_failed_, std::string("could not allocate the ") + noun_ + "'s weights on " + ggml_backend_buft_name(buft) +
                                                ": not enough memory; keep fewer layers on that device or use a smaller quantization");
        }
        ggml_backend_buffer_set_usage(buf, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
        buffers.push_back(buf);
    }

    std::unique_ptr<FILE, int (*)(FILE *)> f(std::fopen(path_.c_str(), "rb"), &std::fclose);
    if (!f) throw NativeError("MODEL_NOT_FOUND", std::string("cannot open ") + noun_ + " file " + path_);
    std::vector<uint8_t> staging;
    const uint64_t total = std::max<uint64_t>(1, n_bytes_);
    uint64_t done = 0;
    const size_t chunk = 64u << 20;
    for (const Pending & p : pending_) {
        const size_t n = ggml_nbytes(p.tensor);
        const bool host = ggml_backend_buffer_is_host(p.tensor->buffer);
        for (size_t at = 0; at < n; at += chunk) {
            const size_t count = std::min(chunk, n - at);
            if (fseeko(f.get(), static_cast<off_t>(p.offset + at), SEEK_SET) != 0) throw NativeError("INVALID_GGUF", path_ + ": cannot seek to tensor data");
            uint8_t * dst;
            if (host) {
                dst = static_cast<uint8_t *>(p.tensor->data) + at;
            } else {
                staging.resize(count);
                dst = staging.data();
            }
            if (std::fread(dst, 1, count, f.get()) != count) throw NativeError("INVALID_GGUF", path_ + " is truncated inside tensor " + ggml_get_name(p.tensor));
            if (!host) ggml_backend_tensor_set(p.tensor, dst, at, count);
            done += count;
            if (progress && !progress(static_cast<float>(static_cast<double>(done) / static_cast<double>(total)))) {
                throw NativeError("ABORTED", std::string(noun_) + " loading was aborted");
            }
        }
    }
}

float ReadScalar(const WeightsFile & file, ggml_tensor * tensor) {
    float value = 0.0f;
    ggml_backend_tensor_get(tensor, &value, 0, sizeof(value));
    if (!std::isfinite(value)) file.Bad(std::string(ggml_get_name(tensor)) + " is not a finite number");
    return value;
}

}  // namespace stagebeam::mllama
