#include "mllama_context.h"

#include <algorithm>
#include <map>
#include <string>
#include <thread>

#include "addon_data.h"
#include "arguments.h"
#include "cancellation.h"
#include "decode_request.h"
#include "errors.h"
#include "mllama_decode_worker.h"
#include "mllama_image_worker.h"
#include "mllama_model.h"
#include "model.h"
#include "promise_worker.h"

namespace stagebeam {

namespace {

// The K/V cache and compute buffers are allocated here, off the JS thread (gigabytes for a real model).
class MllamaCreateWorker : public PromiseWorker<> {
  public:
    MllamaCreateWorker(Napi::Env env, std::shared_ptr<MllamaContextHandle> handle, mllama::TextContext::Params params)
        : PromiseWorker(env, "stagebeam.createMllamaContext"), handle_(std::move(handle)), params_(params) {}

  protected:
    void Execute() override {
        Guarded([this] { handle_->text = std::make_unique<mllama::TextContext>(handle_->model->weights, params_); });
    }
    Napi::Value Result(Napi::Env env) override { return NewWrapped(Data(env).mllama_context, env, handle_); }

  private:
    std::shared_ptr<MllamaContextHandle> handle_;
    mllama::TextContext::Params params_;
};

// The id of <|image|> in the vocabulary, for files that lack mllama.image_token_index.
int32_t ImageToken(const ModelHandle & vocab) {
    const std::string text = "<|image|>";
    llama_token tokens[4];
    const int32_t n = llama_tokenize(vocab.vocab, text.data(), static_cast<int32_t>(text.size()), tokens, 4, false, true);
    return n == 1 ? tokens[0] : -1;
}

}  // namespace

Napi::Function MllamaContext::Init(Napi::Env env) {
    return DefineClass(env, "MllamaContext",
                       {
                           StaticMethod<&MllamaContext::Create>("create"),
                           InstanceMethod<&MllamaContext::Info>("info"),
                           InstanceMethod<&MllamaContext::SeqCopy>("seqCopy"),
                           InstanceMethod<&MllamaContext::SeqRemove>("seqRemove"),
                           InstanceMethod<&MllamaContext::SeqPosMin>("seqPosMin"),
                           InstanceMethod<&MllamaContext::SeqPosMax>("seqPosMax"),
                           InstanceMethod<&MllamaContext::Clear>("clear"),
                           InstanceMethod<&MllamaContext::Decode>("decode"),
                           InstanceMethod<&MllamaContext::EvalImage>("evalImage"),
                           InstanceMethod<&MllamaContext::Dispose>("dispose"),
                       });
}

MllamaContext::MllamaContext(const Napi::CallbackInfo & info) : Napi::ObjectWrap<MllamaContext>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) Throw(info.Env(), "INVALID_ARGUMENT", "MllamaContext objects are created by model.createContext()");
    handle_ = HandleFromExternal<MllamaContextHandle>(info[0]);
}

// create(mllamaModel, vocabModel, { contextSize, sequences, batchSize, ubatchSize, threads, threadsBatch, kvType,
//                                    images, imageRows })
Napi::Value MllamaContext::Create(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    using namespace arguments;
    if (info.Length() < 2) Throw(env, "INVALID_ARGUMENT", "create(mllamaModel, vocabModel, options)");
    auto handle = std::make_shared<MllamaContextHandle>();
    handle->model = MllamaModel::Unwrap(info[0])->Handle(env);
    handle->vocab = Model::Unwrap(info[1])->Handle(env);
    Napi::Object o = ObjectOr(info, 2);

    const mllama::TextWeights & w = *handle->model->weights;
    handle->n_vocab = llama_vocab_n_tokens(handle->vocab->vocab);
    if (static_cast<uint32_t>(handle->n_vocab) < w.hp.n_vocab_out || static_cast<uint32_t>(handle->n_vocab) > w.n_embd_rows) {
        Throw(env, "MODEL_LOAD_FAILED", "the model's vocabulary (" + std::to_string(handle->n_vocab) + " tokens) does not fit its weights (" +
                                            std::to_string(w.hp.n_vocab_out) + " output rows, " + std::to_string(w.n_embd_rows) +
                                            " embedding rows): re-convert the model");
    }
    handle->image_token = w.hp.image_token >= 0 ? w.hp.image_token : ImageToken(*handle->vocab);

    const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
    mllama::TextContext::Params p;
    p.n_ctx = static_cast<uint32_t>(Integer(o, "contextSize", 4096, 1, 1 << 24));
    p.n_seq = static_cast<uint32_t>(Integer(o, "sequences", 8, 1, mllama::kMaxSequences));
    handle->n_batch = static_cast<int32_t>(Integer(o, "batchSize", 512, 1, 1 << 20));
    p.n_ubatch = static_cast<uint32_t>(Integer(o, "ubatchSize", std::min<int64_t>(handle->n_batch, 512), 1, handle->n_batch));
    p.max_outputs = std::max<uint32_t>(1, std::min(p.n_ubatch, std::max<uint32_t>(p.n_seq, 8)));
    p.n_threads = static_cast<int32_t>(Integer(o, "threads", hw, 1, 1024));
    p.n_threads_batch = static_cast<int32_t>(Integer(o, "threadsBatch", p.n_threads, 1, 1024));
    if (Has(o, "kvType")) {
        Napi::Value t = o.Get("kvType");
        const std::string type = t.IsString() ? t.As<Napi::String>().Utf8Value() : "";
        if (type == "f16") p.kv_type = GGML_TYPE_F16;
        else if (type == "f32") p.kv_type = GGML_TYPE_F32;
        else Throw(env, "INVALID_ARGUMENT", "kvType must be \"f16\" or \"f32\"");
    }
    // The image store: `images` slots of `imageRows` vision states each (tiles × tokens per tile, from the
    // projector); none without a projector.
    p.rows_per_image = static_cast<uint32_t>(Integer(o, "imageRows", 0, 0, 1 << 20));
    p.n_images = p.rows_per_image > 0 ? static_cast<uint32_t>(Integer(o, "images", 2, 1, 64)) : 0;
    p.ablate = static_cast<uint32_t>(Integer(o, "ablate", 0, 0, 15));  // sensitivity tests only
    // flashAttention: 1 on; -1 auto and 0 off take the softmax path. ggml's CPU flash attention rounds the
    // queries to F16 and picks a kernel by batch shape, so a near-tie can flip between a batched and a solo
    // run; the softmax path keeps them together (and F32 caches exact), which the search relies on.
    const int64_t fa = Integer(o, "flashAttention", -1, -1, 1);
    p.flash_attn = fa == 1;
    auto * worker = new MllamaCreateWorker(env, handle, p);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

std::shared_ptr<MllamaContextHandle> MllamaContext::Idle(Napi::Env env) {
    if (!handle_) Throw(env, "DISPOSED", "the context has been disposed");
    if (handle_->busy.load()) {
        Throw(env, "CONTEXT_BUSY", "the context is running a decode: wait for it before changing its memory (the JS Context queues this for you)");
    }
    return handle_;
}

int32_t MllamaContext::SeqArg(const Napi::CallbackInfo & info, size_t index, const MllamaContextHandle & h) {
    return arguments::IntegerArg(info, index, "sequence id", 0, static_cast<int64_t>(h.text->params().n_seq) - 1);
}

static int32_t PosArg(const Napi::CallbackInfo & info, size_t index) {
    if (info.Length() <= index || info[index].IsUndefined()) return -1;
    return arguments::IntegerArg(info, index, "position", -1, INT32_MAX);
}

Napi::Value MllamaContext::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!handle_) Throw(env, "DISPOSED", "the context has been disposed");
    const auto & p = handle_->text->params();
    Napi::Object out = Napi::Object::New(env);
    out.Set("contextSize", p.n_ctx);
    out.Set("sequences", p.n_seq);
    out.Set("batchSize", handle_->n_batch);
    out.Set("ubatchSize", p.n_ubatch);
    out.Set("threads", p.n_threads);
    out.Set("threadsBatch", p.n_threads_batch);
    out.Set("canShift", false);
    out.Set("kvType", p.kv_type == GGML_TYPE_F32 ? "f32" : "f16");
    // What the context holds besides the weights, allocated whole at creation (so constant for its life).
    Napi::Object memory = Napi::Object::New(env);
    memory.Set("kvBytes", static_cast<double>(handle_->text->kv().Bytes()));
    mllama::CrossStore * cross = handle_->text->cross();
    memory.Set("crossBytes", static_cast<double>(cross ? cross->Bytes() : 0));
    memory.Set("crossBytesPerImage", static_cast<double>(cross && cross->slots() > 0 ? cross->Bytes() / cross->slots() : 0));
    memory.Set("computeBytes", static_cast<double>(handle_->text->ComputeBytes()));
    out.Set("memory", memory);
    return out;
}

Napi::Value MllamaContext::SeqCopy(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    const int32_t src = SeqArg(info, 0, *h), dst = SeqArg(info, 1, *h);
    h->text->SeqCopy(src, dst, PosArg(info, 2), PosArg(info, 3));
    return info.Env().Undefined();
}

Napi::Value MllamaContext::SeqRemove(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    const int32_t seq = SeqArg(info, 0, *h);
    h->text->SeqRemove(seq, PosArg(info, 1), PosArg(info, 2));
    return Napi::Boolean::New(info.Env(), true);
}

Napi::Value MllamaContext::SeqPosMin(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    return Napi::Number::New(info.Env(), h->text->kv().SeqPosMin(SeqArg(info, 0, *h)));
}

Napi::Value MllamaContext::SeqPosMax(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    return Napi::Number::New(info.Env(), h->text->kv().SeqPosMax(SeqArg(info, 0, *h)));
}

Napi::Value MllamaContext::Clear(const Napi::CallbackInfo & info) {
    Idle(info.Env())->text->Clear();
    return info.Env().Undefined();
}

// decode(request, cancellation?) → Promise<result>: the llama.cpp Context's request and result.
Napi::Value MllamaContext::Decode(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Idle(env);
    const auto & p = h->text->params();
    DecodeLimits limits{h->n_vocab, static_cast<int32_t>(p.n_seq), static_cast<int32_t>(p.n_ctx), h->vocab.get(), h->image_token,
                        "<|image|> is added with an image, not as text"};
    DecodeRequest r = ParseDecodeRequest(info, limits);
    // Each sequence's tokens must continue it: the mask rule (cells at positions <= p) would otherwise
    // mix a stale cell into attention, where llama.cpp refuses such a batch.
    std::map<int32_t, int32_t> next;
    for (size_t i = 0; i < r.tokens.size(); ++i) {
        const int32_t s = r.seq_ids[i];
        auto it = next.find(s);
        const int32_t expected = it != next.end() ? it->second : h->text->kv().SeqPosMax(s) + 1;
        if (r.positions[i] != expected) {
            Throw(env, "INVALID_ARGUMENT", "sequence " + std::to_string(s) + " continues at position " + std::to_string(expected) +
                                               ", but the batch puts a token at " + std::to_string(r.positions[i]) + ": positions must stay consecutive");
        }
        next[s] = expected + 1;
    }
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 1 ? info[1] : env.Undefined());
    auto * worker = new MllamaDecodeWorker(env, h, std::move(r), cancel);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

// evalImage({ states: Float32Array, id, realRows }, seqId, nPast, cancellation?) → Promise<nPast + 1>
// `states` are the image's vision states after the projector (rows_per_image × n_embd, padded tiles
// included); `realRows` of them (the real tiles) are what text may see.
Napi::Value MllamaContext::EvalImage(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Idle(env);
    using namespace arguments;
    mllama::CrossStore * cross = h->text->cross();
    if (!cross) Throw(env, "NO_PROJECTOR", "this context has no image store: load the model's projector before creating the context");
    if (info.Length() < 3 || !info[0].IsObject()) Throw(env, "INVALID_ARGUMENT", "evalImage({ states, id, realRows }, seqId, nPast)");
    Napi::Object image = info[0].As<Napi::Object>();
    Napi::Value states = image.Get("states");
    if (!states.IsTypedArray() || states.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
        Throw(env, "INVALID_ARGUMENT", "states must be a Float32Array");
    }
    Napi::Float32Array values = states.As<Napi::Float32Array>();
    const size_t expected = static_cast<size_t>(cross->rows_per_image()) * h->text->weights().hp.n_embd;
    if (values.ElementLength() != expected) {
        Throw(env, "PROJECTOR_MISMATCH", "the image's vision states have " + std::to_string(values.ElementLength()) + " values, the context expects " +
                                             std::to_string(expected) + ": the projector does not match this model");
    }
    if (!image.Get("id").IsString()) Throw(env, "INVALID_ARGUMENT", "id must be a string");
    const std::string id = image.Get("id").As<Napi::String>().Utf8Value();
    const uint32_t real_rows = static_cast<uint32_t>(Integer(image, "realRows", cross->rows_per_image(), 1, cross->rows_per_image()));
    const int32_t seq = SeqArg(info, 1, *h);
    const int32_t n_past = IntegerArg(info, 2, "nPast", 0, INT32_MAX);
    const auto & p = h->text->params();
    if (n_past >= static_cast<int32_t>(p.n_ctx)) {
        Throw(env, "CONTEXT_FULL", "the image token would be at position " + std::to_string(n_past) + ", beyond the context size " + std::to_string(p.n_ctx));
    }
    if (h->text->kv().SeqPosMax(seq) + 1 != n_past) {
        Throw(env, "INVALID_ARGUMENT", "sequence " + std::to_string(seq) + " continues at position " + std::to_string(h->text->kv().SeqPosMax(seq) + 1) +
                                           ", not " + std::to_string(n_past));
    }
    if (cross->Bound(seq)) {
        Throw(env, "INVALID_ARGUMENT", "this sequence already holds an image: mllama sequences take one image each in this version");
    }
    if (h->image_token < 0) Throw(env, "INVALID_GGUF", "the model's vocabulary has no <|image|> token");
    std::vector<float> copy(values.Data(), values.Data() + values.ElementLength());
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());
    auto * worker = new MllamaImageWorker(env, h, std::move(copy), id, real_rows, seq, n_past, cancel);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value MllamaContext::Dispose(const Napi::CallbackInfo & info) {
    if (handle_ && handle_->busy.load()) {
        Throw(info.Env(), "CONTEXT_BUSY", "the context is running a decode: await it (or abort it) before disposing");
    }
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace stagebeam
