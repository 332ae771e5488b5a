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

ggml_tensor * WeightsFile::Take(const std::string & name, std::initializer_list<int64_t> dims, bool f32, ggml_backend_dev_t dev, bool required,
                                bool widen) {
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
    const bool widened = widen && (meta->type == GGML_TYPE_F16 || meta->type == GGML_TYPE_BF16);
    ggml_tensor * t = widened ? ggml_new_tensor(it->second, GGML_TYPE_F32, GGML_MAX_DIMS, meta->ne) : ggml_dup_tensor(it->second, meta);
    ggml_set_name(t, name.c_str());
    pending_.push_back({t, gguf_get_data_offset(gguf_) + gguf_get_tensor_offset(gguf_, id), meta->type});
    n_params_ += static_cast<uint64_t>(ggml_nelements(meta));
    n_bytes_ += ggml_nbytes(meta);
    n_resident_bytes_ += ggml_nbytes(t);
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
    std::vector<float> widened;
    const uint64_t total = std::max<uint64_t>(1, n_bytes_);
    uint64_t done = 0;
    const size_t chunk = 64u << 20;  // bytes of the file per read; a multiple of every type's block size
    for (const Pending & p : pending_) {
        // Read in the file's type; a widened tensor converts each chunk into its F32 rows.
        const bool widen = p.stored != p.tensor->type;
        const size_t stored_size = widen ? ggml_type_size(p.stored) : 1, resident_size = widen ? sizeof(float) : 1;
        const size_t n = widen ? static_cast<size_t>(ggml_nelements(p.tensor)) * stored_size : ggml_nbytes(p.tensor);
        const bool host = ggml_backend_buffer_is_host(p.tensor->buffer);
        for (size_t at = 0; at < n; at += chunk) {
            const size_t count = std::min(chunk, n - at);
            if (fseeko(f.get(), static_cast<off_t>(p.offset + at), SEEK_SET) != 0) throw NativeError("INVALID_GGUF", path_ + ": cannot seek to tensor data");
            const size_t dst_at = at / stored_size * resident_size;
            uint8_t * dst;
            if (host && !widen) {
                dst = static_cast<uint8_t *>(p.tensor->data) + at;
            } else {
                staging.resize(count);
                dst = staging.data();
            }
            if (std::fread(dst, 1, count, f.get()) != count) throw NativeError("INVALID_GGUF", path_ + " is truncated inside tensor " + ggml_get_name(p.tensor));
            if (widen) {
                const int64_t values = static_cast<int64_t>(count / stored_size);
                float * out = host ? reinterpret_cast<float *>(static_cast<uint8_t *>(p.tensor->data) + dst_at) : (widened.resize(values), widened.data());
                if (p.stored == GGML_TYPE_F16) ggml_fp16_to_fp32_row(reinterpret_cast<const ggml_fp16_t *>(dst), out, values);
                else ggml_bf16_to_fp32_row(reinterpret_cast<const ggml_bf16_t *>(dst), out, values);
                if (!host) ggml_backend_tensor_set(p.tensor, out, dst_at, values * sizeof(float));
            } else if (!host) {
                ggml_backend_tensor_set(p.tensor, dst, at, count);
            }
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
