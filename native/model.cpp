#include "model.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "addon_data.h"
#include "arguments.h"
#include "cancellation.h"
#include "errors.h"
#include "gguf.h"
#include "log_capture.h"
#include "load_worker.h"
#include "rpc_devices.h"
#include "spm_split_points.h"

namespace stagebeam {

namespace {

std::string MetaString(const llama_model * model, const char * key) {
    char buf[512];
    int32_t n = llama_model_meta_val_str(model, key, buf, sizeof(buf));
    if (n < 0) return "";
    if (static_cast<size_t>(n) < sizeof(buf)) return std::string(buf, n);
    std::vector<char> big(n + 1);
    llama_model_meta_val_str(model, key, big.data(), big.size());
    return std::string(big.data(), n);
}

Napi::Value TokenOrNull(Napi::Env env, llama_token t) {
    return t == LLAMA_TOKEN_NULL ? env.Null() : Napi::Number::New(env, t);
}

// Loads on a worker thread. The GGUF is parsed by ggml's validating reader first, so a file that is not
// GGUF, or is truncated, is reported as INVALID_GGUF before llama.cpp's loader sees it.
class ModelLoadWorker : public LoadWorker {
  public:
    ModelLoadWorker(Napi::Env env, std::string path, int32_t gpu_layers, int use_mmap, std::string vocab_of, std::vector<std::string> rpc,
                    CancelFlag cancel, Napi::Function on_progress)
        : LoadWorker(env, "stagebeam.loadModel", std::move(cancel), on_progress), path_(std::move(path)), gpu_layers_(gpu_layers),
          use_mmap_(use_mmap), vocab_of_(std::move(vocab_of)), rpc_(std::move(rpc)) {}

    ~ModelLoadWorker() override {
        if (model_) llama_model_free(model_);
    }

  protected:
    Napi::Value Result(Napi::Env env) override {
        auto handle = std::make_shared<ModelHandle>(model_);
        model_ = nullptr;
        return NewWrapped(Data(env).model, env, handle);
    }

    void Load() override {
        ClearCapturedErrors();
        FILE * f = std::fopen(path_.c_str(), "rb");
        if (!f) throw NativeError("MODEL_NOT_FOUND", "cannot open model file " + path_ + ": check the path");
        std::fclose(f);

        gguf_init_params gguf_params = {/*no_alloc =*/true, /*ctx =*/nullptr};
        gguf_context * gguf = gguf_init_from_file(path_.c_str(), gguf_params);
        if (!gguf) {
            std::string why = CapturedErrors();
            throw NativeError("INVALID_GGUF", path_ + " is not a valid GGUF file" + (why.empty() ? "" : " (" + why + ")") +
                                                  ": it may be truncated or another format; re-download or re-convert it");
        }
        // llama.cpp's loader would report a file cut short inside the tensor data only as a generic
        // load failure; the tensor table says how long the file must be.
        size_t needed = gguf_get_data_offset(gguf);
        for (int64_t i = 0; i < gguf_get_n_tensors(gguf); ++i) {
            needed = std::max(needed, gguf_get_data_offset(gguf) + gguf_get_tensor_offset(gguf, i) + gguf_get_tensor_size(gguf, i));
        }
        gguf_free(gguf);
        std::error_code size_error;
        const auto size = std::filesystem::file_size(path_, size_error);
        if (!size_error && size < needed) {
            throw NativeError("INVALID_GGUF", path_ + " is truncated: its tensors need " + std::to_string(needed) + " bytes but the file has " +
                                                  std::to_string(size) + "; re-download it");
        }

        llama_model_params params = llama_model_default_params();
        params.n_gpu_layers = gpu_layers_;
        if (use_mmap_ == 0) params.load_mode = LLAMA_LOAD_MODE_NONE;
        if (use_mmap_ == 1) params.load_mode = LLAMA_LOAD_MODE_MMAP;
        params.progress_callback = OnLoadProgress;
        params.progress_callback_user_data = static_cast<LoadWorker *>(this);
        // Split across rpc-server processes: their devices (and this machine's GPUs) take the layers
        // gpuLayers offloads, as llama.cpp's `--rpc` does.
        std::vector<ggml_backend_dev_t> devices;
        if (!rpc_.empty()) {
            devices = RpcDevices(rpc_);
            params.devices = devices.data();
        }
        // Only the vocabulary of an architecture llama.cpp does not know (mllama, run by the addon's own
        // engine): the loader reads general.architecture to pick hparams, and vocab_only returns before
        // any of them or any tensor is read, so naming a known one there is enough.
        llama_model_kv_override overrides[2] = {};
        if (!vocab_of_.empty()) {
            params.vocab_only = true;
            overrides[0].tag = LLAMA_KV_OVERRIDE_TYPE_STR;
            std::snprintf(overrides[0].key, sizeof(overrides[0].key), "general.architecture");
            std::snprintf(overrides[0].val_str, sizeof(overrides[0].val_str), "%s", vocab_of_.c_str());
            params.kv_overrides = overrides;
        }

        model_ = llama_model_load_from_file(path_.c_str(), params);
        if (!model_) {
            if (cancel_->load()) throw NativeError("ABORTED", "model loading was aborted");
            std::string why = CapturedErrors();
            if (why.find("unknown model architecture") != std::string::npos) {
                throw NativeError("UNSUPPORTED_ARCHITECTURE", "this llama.cpp build does not support the model's architecture (" + why + ")");
            }
            throw NativeError("MODEL_LOAD_FAILED", "llama.cpp could not load " + path_ + (why.empty() ? "" : " (" + why + ")"));
        }
    }

  private:
    std::string path_;
    int32_t gpu_layers_;
    int use_mmap_;  // -1 auto, 0 off, 1 on
    std::string vocab_of_;  // non-empty: load only the vocabulary, read as this architecture's
    std::vector<std::string> rpc_;  // rpc-server endpoints ("host:port"), already answering
    llama_model * model_ = nullptr;
};

}  // namespace

Napi::Function Model::Init(Napi::Env env) {
    return DefineClass(env, "Model",
                       {
                           StaticMethod<&Model::Load>("load"),
                           InstanceMethod<&Model::Metadata>("metadata"),
                           InstanceMethod<&Model::Tokenize>("tokenize"),
                           InstanceMethod<&Model::Detokenize>("detokenize"),
                           InstanceMethod<&Model::TokenPiece>("tokenPiece"),
                           InstanceMethod<&Model::IsEog>("isEog"),
                           InstanceMethod<&Model::ApplyChatTemplate>("applyChatTemplate"),
                           InstanceMethod<&Model::Dispose>("dispose"),
                       });
}

Model::Model(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Model>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) {
        Throw(info.Env(), "INVALID_ARGUMENT", "Model objects are created by loadModel()");
    }
    handle_ = HandleFromExternal<ModelHandle>(info[0]);
}

Model * Model::Unwrap(Napi::Value value) {
    Napi::Env env = value.Env();
    if (!value.IsObject() || !value.As<Napi::Object>().InstanceOf(Data(env).model.Value())) {
        Throw(env, "INVALID_ARGUMENT", "expected a native Model");
    }
    return Napi::ObjectWrap<Model>::Unwrap(value.As<Napi::Object>());
}

std::shared_ptr<ModelHandle> Model::Handle(Napi::Env env) const {
    if (!handle_) Throw(env, "DISPOSED", "the model has been disposed");
    return handle_;
}

Napi::Value Model::Load(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    std::string path = arguments::String(info, 0, "path");
    Napi::Object options = arguments::ObjectOr(info, 1);
    int32_t gpu_layers = static_cast<int32_t>(arguments::Integer(options, "gpuLayers", -1, -1, 1 << 20));
    int use_mmap = arguments::Has(options, "useMmap") ? (arguments::Boolean(options, "useMmap", true) ? 1 : 0) : -1;
    Napi::Function on_progress;
    if (info.Length() > 2 && info[2].IsFunction()) on_progress = info[2].As<Napi::Function>();
    std::string vocab_of;
    if (arguments::Has(options, "vocabularyOnlyAs")) {
        Napi::Value v = options.Get("vocabularyOnlyAs");
        if (!v.IsString() || v.As<Napi::String>().Utf8Value().empty() || v.As<Napi::String>().Utf8Value().size() >= 127) {
            Throw(env, "INVALID_ARGUMENT", "vocabularyOnlyAs must be an architecture name");
        }
        vocab_of = v.As<Napi::String>().Utf8Value();
    }
    std::vector<std::string> rpc;
    if (arguments::Has(options, "rpc")) {
        Napi::Value v = options.Get("rpc");
        if (!v.IsArray()) Throw(env, "INVALID_ARGUMENT", "rpc must be an array of host:port strings");
        Napi::Array endpoints = v.As<Napi::Array>();
        for (uint32_t i = 0; i < endpoints.Length(); ++i) {
            Napi::Value e = endpoints.Get(i);
            // ggml aborts on an endpoint its parser cannot read: check its shape here too.
            if (!e.IsString() || !IsRpcEndpoint(e.As<Napi::String>().Utf8Value())) {
                Throw(env, "INVALID_RPC_ENDPOINT", "rpc endpoints must be host:port strings with a port of 1 to 65535");
            }
            rpc.push_back(e.As<Napi::String>().Utf8Value());
        }
    }
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());
    auto * worker = new ModelLoadWorker(env, path, gpu_layers, use_mmap, vocab_of, std::move(rpc), cancel, on_progress);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value Model::Metadata(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Handle(env);
    const llama_model * m = h->model;
    const llama_vocab * v = h->vocab;
    Napi::Object out = Napi::Object::New(env);

    char desc[256];
    llama_model_desc(m, desc, sizeof(desc));
    out.Set("architecture", MetaString(m, "general.architecture"));
    out.Set("name", MetaString(m, "general.name"));
    out.Set("description", std::string(desc));
    out.Set("parameterCount", Napi::Number::New(env, static_cast<double>(llama_model_n_params(m))));
    out.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(llama_model_size(m))));
    out.Set("contextLength", llama_model_n_ctx_train(m));
    out.Set("embeddingSize", llama_model_n_embd(m));
    out.Set("layerCount", llama_model_n_layer(m));
    // A vocabulary-only model has no layers, and llama.cpp aborts when asked for layer 0's head counts.
    const bool has_layers = llama_model_n_layer(m) > 0;
    out.Set("headCount", has_layers ? llama_model_n_head(m) : 0);
    out.Set("kvHeadCount", has_layers ? llama_model_n_head_kv(m) : 0);
    out.Set("slidingWindow", llama_model_n_swa(m));
    out.Set("vocabSize", llama_vocab_n_tokens(v));
    out.Set("ropeType", static_cast<int32_t>(llama_model_rope_type(m)));
    out.Set("hasEncoder", llama_model_has_encoder(m));
    out.Set("isRecurrent", llama_model_is_recurrent(m));
    out.Set("isHybrid", llama_model_is_hybrid(m));
    const char * tmpl = llama_model_chat_template(m, nullptr);
    out.Set("chatTemplate", tmpl ? Napi::String::New(env, tmpl) : env.Null());

    Napi::Object tokens = Napi::Object::New(env);
    tokens.Set("bos", TokenOrNull(env, llama_vocab_bos(v)));
    tokens.Set("eos", TokenOrNull(env, llama_vocab_eos(v)));
    tokens.Set("eot", TokenOrNull(env, llama_vocab_eot(v)));
    tokens.Set("sep", TokenOrNull(env, llama_vocab_sep(v)));
    tokens.Set("nl", TokenOrNull(env, llama_vocab_nl(v)));
    tokens.Set("pad", TokenOrNull(env, llama_vocab_pad(v)));
    out.Set("specialTokens", tokens);
    out.Set("addBos", llama_vocab_get_add_bos(v));
    out.Set("addEos", llama_vocab_get_add_eos(v));

    Napi::Object meta = Napi::Object::New(env);
    const int32_t n_meta = llama_model_meta_count(m);
    for (int32_t i = 0; i < n_meta; ++i) {
        char key[256];
        if (llama_model_meta_key_by_index(m, i, key, sizeof(key)) < 0) continue;
        char val[512];
        int32_t n = llama_model_meta_val_str_by_index(m, i, val, sizeof(val));
        if (n < 0) continue;
        if (static_cast<size_t>(n) < sizeof(val)) {
            meta.Set(key, std::string(val, n));
        } else {
            meta.Set(key, MetaString(m, key));
        }
    }
    out.Set("meta", meta);
    return out;
}

// tokenize(text, addSpecial = true, parseSpecial = false, pieceBytes = 8192) → Int32Array
// pieceBytes: how long the pieces of a long SPM text are (spm_split_points.h); tests pass small values.
Napi::Value Model::Tokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Handle(env);
    std::string text = arguments::String(info, 0, "text");
    bool add_special = arguments::BooleanArg(info, 1, true);
    bool parse_special = arguments::BooleanArg(info, 2, false);
    const size_t piece_bytes = info.Length() > 3 && info[3].IsNumber() ? static_cast<size_t>(std::max<int64_t>(1, info[3].As<Napi::Number>().Int64Value())) : 8192;
    const SpmSplitPoints * split = nullptr;
    if (text.size() > 2 * piece_bytes && llama_vocab_type(h->vocab) == LLAMA_VOCAB_TYPE_SPM) {
        std::call_once(h->split_points_once, [&] {
            // llama.cpp's default for SPM vocabularies is to add the prefix; the metadata may say otherwise.
            char value[16] = {0};
            const bool said = llama_model_meta_val_str(h->model, "tokenizer.ggml.add_space_prefix", value, sizeof(value)) >= 0;
            h->split_points = std::make_unique<SpmSplitPoints>(h->vocab, !said || std::string(value) == "true");
        });
        split = h->split_points.get();
    }
    std::vector<llama_token> tokens;
    try {
        tokens = TokenizeInPieces(h->vocab, split, text, add_special, parse_special, piece_bytes);
    } catch (const NativeError & error) {
        Throw(env, error.code(), error.what());
    }
    Napi::Int32Array out = Napi::Int32Array::New(env, tokens.size());
    std::copy(tokens.begin(), tokens.end(), out.Data());
    return out;
}

static void CheckTokens(Napi::Env env, const ModelHandle & h, const std::vector<int32_t> & tokens) {
    const int32_t n_vocab = llama_vocab_n_tokens(h.vocab);
    for (int32_t t : tokens) {
        if (t < 0 || t >= n_vocab) {
            Throw(env, "INVALID_TOKEN", "token id " + std::to_string(t) + " is out of range: the vocabulary has " + std::to_string(n_vocab) + " tokens");
        }
    }
}

// detokenize(tokens: Int32Array, removeSpecial = false, unparseSpecial = false) → string
Napi::Value Model::Detokenize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Handle(env);
    std::vector<int32_t> tokens = arguments::Int32s(env, info.Length() > 0 ? info[0] : env.Undefined(), "tokens");
    CheckTokens(env, *h, tokens);
    bool remove_special = arguments::BooleanArg(info, 1, false);
    bool unparse_special = arguments::BooleanArg(info, 2, false);
    std::vector<char> text(tokens.size() * 8 + 16);
    int32_t n = llama_detokenize(h->vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                                 static_cast<int32_t>(text.size()), remove_special, unparse_special);
    if (n < 0) {
        text.resize(-n);
        n = llama_detokenize(h->vocab, tokens.data(), static_cast<int32_t>(tokens.size()), text.data(),
                             static_cast<int32_t>(text.size()), remove_special, unparse_special);
        if (n < 0) Throw(env, "INTERNAL", "detokenization failed");
    }
    return Napi::String::New(env, text.data(), n);
}

// tokenPiece(token, special = false) → Uint8Array: the raw bytes, which may be part of a UTF-8 sequence.
Napi::Value Model::TokenPiece(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Handle(env);
    int32_t token = arguments::IntegerArg(info, 0, "token", 0, llama_vocab_n_tokens(h->vocab) - 1);
    bool special = arguments::BooleanArg(info, 1, false);
    char buf[256];
    int32_t n = llama_token_to_piece(h->vocab, token, buf, sizeof(buf), 0, special);
    std::vector<char> big;
    const char * data = buf;
    if (n < 0) {
        big.resize(-n);
        n = llama_token_to_piece(h->vocab, token, big.data(), static_cast<int32_t>(big.size()), 0, special);
        data = big.data();
    }
    if (n < 0) n = 0;
    Napi::Uint8Array out = Napi::Uint8Array::New(env, n);
    std::copy(data, data + n, reinterpret_cast<char *>(out.Data()));
    return out;
}

Napi::Value Model::IsEog(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Handle(env);
    int32_t token = arguments::IntegerArg(info, 0, "token", 0, llama_vocab_n_tokens(h->vocab) - 1);
    return Napi::Boolean::New(env, llama_vocab_is_eog(h->vocab, token));
}

// applyChatTemplate(template | null, messages: {role, content}[], addAssistant) → string | null
// llama.cpp's built-in (non-Jinja) renderer: the fallback when the Jinja renderer cannot handle a template.
// Returns null when llama.cpp does not recognise the template.
Napi::Value Model::ApplyChatTemplate(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Handle(env);
    std::string tmpl;
    if (info.Length() > 0 && info[0].IsString()) {
        tmpl = info[0].As<Napi::String>().Utf8Value();
    } else {
        const char * builtin = llama_model_chat_template(h->model, nullptr);
        if (!builtin) return env.Null();
        tmpl = builtin;
    }
    if (info.Length() < 2 || !info[1].IsArray()) Throw(env, "INVALID_ARGUMENT", "messages must be an array");
    Napi::Array messages = info[1].As<Napi::Array>();
    std::vector<std::string> roles, contents;
    for (uint32_t i = 0; i < messages.Length(); ++i) {
        Napi::Value m = messages.Get(i);
        if (!m.IsObject()) Throw(env, "INVALID_ARGUMENT", "each message must be an object");
        Napi::Object o = m.As<Napi::Object>();
        if (!o.Get("role").IsString() || !o.Get("content").IsString()) {
            Throw(env, "INVALID_ARGUMENT", "each message needs a string role and content");
        }
        roles.push_back(o.Get("role").As<Napi::String>().Utf8Value());
        contents.push_back(o.Get("content").As<Napi::String>().Utf8Value());
    }
    std::vector<llama_chat_message> chat;
    size_t total = tmpl.size();
    for (size_t i = 0; i < roles.size(); ++i) {
        chat.push_back({roles[i].c_str(), contents[i].c_str()});
        total += roles[i].size() + contents[i].size();
    }
    bool add_assistant = arguments::BooleanArg(info, 2, true);
    std::vector<char> buf(total * 2 + 256);
    int32_t n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, buf.data(), static_cast<int32_t>(buf.size()));
    if (n < 0) return env.Null();
    if (static_cast<size_t>(n) > buf.size()) {
        buf.resize(n);
        n = llama_chat_apply_template(tmpl.c_str(), chat.data(), chat.size(), add_assistant, buf.data(), static_cast<int32_t>(buf.size()));
    }
    return Napi::String::New(env, buf.data(), n);
}

Napi::Value Model::Dispose(const Napi::CallbackInfo & info) {
    // Contexts and samplers made from this model keep their own reference; the weights are freed when
    // the last of them goes.
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace stagebeam
