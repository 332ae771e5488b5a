// One mllama weights file being loaded — the text model or the vision projector: opened with ggml's
// validating GGUF reader and checked against truncation, its tensors declared onto devices with their
// shapes checked, allocated per buffer type, and read in chunks with progress and abort. The two
// loaders (weights.cpp, vision_weights.cpp) say which tensors go where; this does the rest once.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"

namespace stagebeam::mllama {

class WeightsFile {
  public:
    // `noun` names the file in messages ("model", "vision projector"); `load_failed` is the error code
    // of an allocation failure (MODEL_LOAD_FAILED, PROJECTOR_LOAD_FAILED).
    WeightsFile(const std::string & path, const char * noun, const char * load_failed);  // MODEL_NOT_FOUND, INVALID_GGUF
    ~WeightsFile();
    WeightsFile(const WeightsFile &) = delete;
    WeightsFile & operator=(const WeightsFile &) = delete;

    const gguf_context * gguf() const { return gguf_; }
    const std::string & path() const { return path_; }
    // A string key's value, "" when absent or not a string.
    std::string String(const char * key) const;
    // INVALID_GGUF: "<path> is not a usable mllama <noun>: <what>; re-convert it".
    [[noreturn]] void Bad(const std::string & what) const;

    // Declares tensor `name` on `dev` after checking its ggml shape (missing trailing dims are 1; -1
    // accepts any size) and, with `f32`, its type. Null when it is absent and not `required`. With
    // `widen`, an F16 or BF16 tensor is held as F32 (converted while it is read); other types as stored.
    ggml_tensor * Take(const std::string & name, std::initializer_list<int64_t> dims, bool f32, ggml_backend_dev_t dev, bool required = true,
                       bool widen = false);

    // Allocates every declared tensor on its device and reads its data (progress 0..1; false stops the
    // load with ABORTED). The contexts and buffers are handed to the caller, who frees them.
    void Load(const std::function<bool(float)> & progress, std::vector<ggml_context *> & ctxs, std::vector<ggml_backend_buffer_t> & buffers);

    uint64_t params() const { return n_params_; }
    uint64_t bytes() const { return n_bytes_; }                    // as stored in the file
    uint64_t resident_bytes() const { return n_resident_bytes_; }  // as held on the devices (widened tensors count 4 bytes per value)

  private:
    struct Pending {
        ggml_tensor * tensor;
        size_t offset;
        ggml_type stored;  // the file's type: tensor->type, or F16/BF16 for a widened tensor
    };

    std::string path_;
    const char * noun_;
    const char * load_failed_;
    gguf_context * gguf_ = nullptr;
    ggml_context * meta_ = nullptr;
    std::vector<std::pair<ggml_backend_buffer_type_t, ggml_context *>> ctxs_;  // declared, not yet handed over
    std::vector<Pending> pending_;
    uint64_t n_params_ = 0;
    uint64_t n_bytes_ = 0;
    uint64_t n_resident_bytes_ = 0;
};

// The value of a one-element F32 weight (a gate), read back from its buffer; INVALID_GGUF if not finite.
float ReadScalar(const WeightsFile & file, ggml_tensor * tensor);

}  // namespace stagebeam::mllama
