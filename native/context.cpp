#include "context.h"

#include <algorithm>
#include <string>
#include <thread>

#include "addon_data.h"
#include "arguments.h"
#include "cancellation.h"
#include "chunks.h"
#include "decode_request.h"
#include "decode_run.h"
#include "decode_worker.h"
#include "image_eval_worker.h"
#include "errors.h"
#include "ggml-backend.h"
#include "log_capture.h"
#include "model.h"
#include "promise_worker.h"
#include "sampler.h"

namespace stagebeam {

namespace {

class CreateWorker : public PromiseWorker<> {
  public:
    CreateWorker(Napi::Env env, std::shared_ptr<ModelHandle> model, llama_context_params params)
        : PromiseWorker(env, "stagebeam.createContext"), model_(std::move(model)), params_(params) {}
    ~CreateWorker() override {
        if (ctx_) llama_free(ctx_);
        if (free_fn_ && threadpool_) free_fn_(threadpool_);
        if (free_fn_ && threadpool_batch_) free_fn_(threadpool_batch_);
    }

  protected:
    void Execute() override {
        Guarded([this] {
            ClearCapturedErrors();
            ctx_ = llama_init_from_model(model_->model, params_);
            if (!ctx_) {
                std::string why = CapturedErrors();
                throw NativeError("CONTEXT_CREATE_FAILED", "llama.cpp could not create the context" + (why.empty() ? "" : " (" + why + ")") +
                                                               ": try a smaller contextSize or fewer sequences");
            }
            AttachThreadpools();
        });
    }

    // As llama-bench does: the CPU backend is a loadable module (GGML_BACKEND_DL), so its threadpool
    // functions are looked up through the backend registry.
    void AttachThreadpools() {
        ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
        if (!cpu) return;
        ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(cpu);
        using NewFn = ggml_threadpool * (*)(ggml_threadpool_params *);
        auto new_fn = reinterpret_cast<NewFn>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_new"));
        free_fn_ = reinterpret_cast<void (*)(ggml_threadpool *)>(ggml_backend_reg_get_proc_address(reg, "ggml_threadpool_free"));
        if (!new_fn || !free_fn_) return;
        ggml_threadpool_params tpp = ggml_threadpool_params_default(params_.n_threads);
        // No polling between graphs: ggml's workers would otherwise spin for a long while after each
        // decode, on the cores our sampling threads and the JS thread need (measured on 2 vCPUs: a
        // 4-candidate step with top-p sampling 95 → 80 ms; greedy single-sequence decode unchanged).
        tpp.poll = 0;
        threadpool_ = new_fn(&tpp);
        if (params_.n_threads_batch != params_.n_threads) {
            ggml_threadpool_params tpp_batch = ggml_threadpool_params_default(params_.n_threads_batch);
            tpp_batch.poll = 0;
            threadpool_batch_ = new_fn(&tpp_batch);
        }
        if (threadpool_) llama_attach_threadpool(ctx_, threadpool_, threadpool_batch_);
    }

    Napi::Value Result(Napi::Env env) override {
        auto handle = std::make_shared<ContextHandle>(model_, ctx_, static_cast<int32_t>(llama_n_batch(ctx_)));
        handle->threadpool = threadpool_;
        handle->threadpool_batch = threadpool_batch_;
        handle->threadpool_free = free_fn_;
        ctx_ = nullptr;
        threadpool_ = threadpool_batch_ = nullptr;
        return NewWrapped(Data(env).context, env, handle);
    }

  private:
    std::shared_ptr<ModelHandle> model_;
    llama_context_params params_;
    llama_context * ctx_ = nullptr;
    ggml_threadpool * threadpool_ = nullptr;
    ggml_threadpool * threadpool_batch_ = nullptr;
    void (*free_fn_)(ggml_threadpool *) = nullptr;
};

}  // namespace

Napi::Function Context::Init(Napi::Env env) {
    return DefineClass(env, "Context",
                       {
                           StaticMethod<&Context::Create>("create"),
                           InstanceMethod<&Context::Info>("info"),
                           InstanceMethod<&Context::SeqCopy>("seqCopy"),
                           InstanceMethod<&Context::SeqRemove>("seqRemove"),
                           InstanceMethod<&Context::SeqPosMin>("seqPosMin"),
                           InstanceMethod<&Context::SeqPosMax>("seqPosMax"),
                           InstanceMethod<&Context::Clear>("clear"),
                           InstanceMethod<&Context::Decode>("decode"),
                           InstanceMethod<&Context::DecodeRun>("decodeRun"),
                           InstanceMethod<&Context::EvalImage>("evalImage"),
                           InstanceMethod<&Context::Dispose>("dispose"),
                       });
}

Context::Context(const Napi::CallbackInfo & info) : Napi::ObjectWrap<Context>(info) {
    if (info.Length() < 1 || !info[0].IsExternal()) {
        Throw(info.Env(), "INVALID_ARGUMENT", "Context objects are created by model.createContext()");
    }
    handle_ = HandleFromExternal<ContextHandle>(info[0]);
}

// create(model, { contextSize, sequences, batchSize, ubatchSize, threads, threadsBatch, flashAttention })
Napi::Value Context::Create(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    using namespace arguments;
    if (info.Length() < 1) Throw(env, "INVALID_ARGUMENT", "create(model, options)");
    auto model = Model::Unwrap(info[0])->Handle(env);
    Napi::Object o = ObjectOr(info, 1);

    const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
    llama_context_params p = llama_context_default_params();
    p.n_ctx = static_cast<uint32_t>(Integer(o, "contextSize", 4096, 0, 1 << 24));
    p.n_seq_max = static_cast<uint32_t>(Integer(o, "sequences", 8, 1, static_cast<int64_t>(llama_max_parallel_sequences())));
    p.n_batch = static_cast<uint32_t>(Integer(o, "batchSize", 512, 1, 1 << 20));
    p.n_ubatch = static_cast<uint32_t>(Integer(o, "ubatchSize", std::min<int64_t>(p.n_batch, 512), 1, p.n_batch));
    // Room for one output per sequence in a step, however small the batch: llama.cpp reserves outputs for
    // every sequence but caps them at n_batch (itself capped at the context size), and aborts when
    // sequences outnumber that (GGML_ASSERT n_outputs_max, e.g. batchSize 4 with 8 sequences). A larger
    // cap changes nothing else: graphs are reserved for at most a batch's tokens.
    p.n_outputs_max = std::max(p.n_batch, p.n_seq_max);
    if (llama_model_has_encoder(model->model) && (p.n_seq_max > p.n_batch || (p.n_ctx != 0 && p.n_seq_max > p.n_ctx))) {
        Throw(env, "INVALID_ARGUMENT", "sequences (" + std::to_string(p.n_seq_max) + ") must not exceed batchSize and contextSize for an encoder-decoder model");
    }
    p.n_threads = static_cast<int32_t>(Integer(o, "threads", hw, 1, 1024));
    p.n_threads_batch = static_cast<int32_t>(Integer(o, "threadsBatch", p.n_threads, 1, 1024));
    const int64_t fa = Integer(o, "flashAttention", -1, -1, 1);
    p.flash_attn_type = fa < 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO : fa == 0 ? LLAMA_FLASH_ATTN_TYPE_DISABLED : LLAMA_FLASH_ATTN_TYPE_ENABLED;
    // One pool of cells for all sequences: a fork shares its parent's cells instead of copying them.
    p.kv_unified = Boolean(o, "kvUnified", true);
    p.no_perf = true;

    auto * worker = new CreateWorker(env, model, p);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

std::shared_ptr<ContextHandle> Context::Idle(Napi::Env env) {
    if (!handle_) Throw(env, "DISPOSED", "the context has been disposed");
    if (handle_->busy.load()) {
        Throw(env, "CONTEXT_BUSY", "the context is running a decode: wait for it before changing its memory (the JS Context queues this for you)");
    }
    return handle_;
}

int32_t Context::SeqArg(const Napi::CallbackInfo & info, size_t index, const ContextHandle & h) {
    return arguments::IntegerArg(info, index, "sequence id", 0, static_cast<int64_t>(llama_n_seq_max(h.ctx)) - 1);
}

static llama_pos PosArg(const Napi::CallbackInfo & info, size_t index) {
    if (info.Length() <= index || info[index].IsUndefined()) return -1;
    return arguments::IntegerArg(info, index, "position", -1, INT32_MAX);
}

Napi::Value Context::Info(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    if (!handle_) Throw(env, "DISPOSED", "the context has been disposed");
    llama_context * ctx = handle_->ctx;
    Napi::Object out = Napi::Object::New(env);
    out.Set("contextSize", llama_n_ctx(ctx));
    out.Set("sequences", llama_n_seq_max(ctx));
    out.Set("batchSize", llama_n_batch(ctx));
    out.Set("ubatchSize", llama_n_ubatch(ctx));
    out.Set("threads", llama_n_threads(ctx));
    out.Set("threadsBatch", llama_n_threads_batch(ctx));
    out.Set("canShift", llama_memory_can_shift(llama_get_memory(ctx)));
    return out;
}

// seqCopy(src, dst, p0 = -1, p1 = -1): dst shares src's cells in [p0, p1) — a fork, no data copied.
Napi::Value Context::SeqCopy(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    int32_t src = SeqArg(info, 0, *h), dst = SeqArg(info, 1, *h);
    llama_memory_seq_cp(llama_get_memory(h->ctx), src, dst, PosArg(info, 2), PosArg(info, 3));
    return info.Env().Undefined();
}

// seqRemove(seq, p0 = -1, p1 = -1) → false when the memory cannot remove a partial range (recurrent models)
Napi::Value Context::SeqRemove(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    int32_t seq = SeqArg(info, 0, *h);
    return Napi::Boolean::New(info.Env(), llama_memory_seq_rm(llama_get_memory(h->ctx), seq, PosArg(info, 1), PosArg(info, 2)));
}

Napi::Value Context::SeqPosMin(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    return Napi::Number::New(info.Env(), llama_memory_seq_pos_min(llama_get_memory(h->ctx), SeqArg(info, 0, *h)));
}

Napi::Value Context::SeqPosMax(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    return Napi::Number::New(info.Env(), llama_memory_seq_pos_max(llama_get_memory(h->ctx), SeqArg(info, 0, *h)));
}

Napi::Value Context::Clear(const Napi::CallbackInfo & info) {
    auto h = Idle(info.Env());
    llama_memory_clear(llama_get_memory(h->ctx), true);
    return info.Env().Undefined();
}

namespace {
// What a decode request on this context may hold: token ids, sequence ids and positions in range.
DecodeLimits LimitsOf(const ContextHandle & h) {
    return DecodeLimits{llama_vocab_n_tokens(h.model->vocab), static_cast<int32_t>(llama_n_seq_max(h.ctx)), static_cast<int32_t>(llama_n_ctx(h.ctx)),
                        h.model.get()};
}
}  // namespace

// decode({ tokens, positions, seqIds, outputs, samplers, topK, probes }, cancellation?) → Promise<result>
// Validates everything llama.cpp would otherwise assert on, then runs DecodeWorker.
Napi::Value Context::Decode(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Idle(env);
    DecodeRequest r = ParseDecodeRequest(info, LimitsOf(*h));
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 1 ? info[1] : env.Undefined());

    auto * worker = new DecodeWorker(env, h, std::move(r), cancel);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

// decodeRun(request, { budgets, stopAtEog }, onStep, cancellation?) → { done, verdict(step, seqIds, yieldAfter), stopWaiting(), forwardsStarted() }
// Lockstep generation for many steps in one call (decode_run.h): one sampled output row per sequence,
// reported to onStep({ step, seqIds, tokens, logprobs, timing }) step by step; JS answers each step with
// verdict(step, the sequence ids that go on, whether to end after the next step). `done` resolves with
// { steps, forwards, discardedRows, discardedForwardMs } once every step has been reported.
Napi::Value Context::DecodeRun(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Idle(env);
    DecodeRequest r = ParseDecodeRequest(info, LimitsOf(*h));
    const size_t n = r.tokens.size();
    if (r.OutputCount() != n || std::any_of(r.samplers.begin(), r.samplers.end(), [](const auto & s) { return !s; })) {
        Throw(env, "INVALID_ARGUMENT", "decodeRun: every row must be an output with a sampler");
    }
    if (r.top_k != 0 || !r.probes.empty() || r.return_logits) {
        Throw(env, "INVALID_ARGUMENT", "decodeRun reports sampled tokens and their logprobs only: use decode() for topK, probes or logits");
    }
    if (n > static_cast<size_t>(h->batch_capacity)) {
        Throw(env, "INVALID_ARGUMENT", "decodeRun: " + std::to_string(n) + " sequences do not fit in one batch of " + std::to_string(h->batch_capacity));
    }
    std::vector<int32_t> seen = r.seq_ids;
    std::sort(seen.begin(), seen.end());
    if (std::adjacent_find(seen.begin(), seen.end()) != seen.end()) Throw(env, "INVALID_ARGUMENT", "decodeRun: one row per sequence");

    Napi::Object lo = arguments::ObjectOr(info, 1);
    RunLimits run_limits;
    run_limits.budgets = arguments::Int32s(env, lo.Get("budgets"), "budgets");
    run_limits.stop_at_eog = arguments::Uint8s(env, lo.Get("stopAtEog"), "stopAtEog");
    if (run_limits.budgets.size() != n || run_limits.stop_at_eog.size() != n) {
        Throw(env, "INVALID_ARGUMENT", "decodeRun: budgets and stopAtEog need one entry per row");
    }
    for (int32_t b : run_limits.budgets) {
        if (b < 1) Throw(env, "INVALID_ARGUMENT", "decodeRun: every budget must be at least 1");
    }
    if (info.Length() < 3 || !info[2].IsFunction()) Throw(env, "INVALID_ARGUMENT", "decodeRun: onStep must be a function");
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 3 ? info[3] : env.Undefined());

    auto control = std::make_shared<RunControl>();
    auto * worker = new DecodeRunWorker(env, h, std::move(r), std::move(run_limits), cancel, control, info[2].As<Napi::Function>());
    Napi::Object out = Napi::Object::New(env);
    out.Set("done", worker->Promise());
    out.Set("verdict", Napi::Function::New(env, [control](const Napi::CallbackInfo & call) {
                Napi::Env e = call.Env();
                if (call.Length() < 3 || !call[0].IsNumber() || !call[2].IsBoolean()) Throw(e, "INVALID_ARGUMENT", "verdict(step, seqIds, yieldAfter)");
                control->Verdict(call[0].As<Napi::Number>().Int64Value(), arguments::Int32s(e, call[1], "seqIds"), call[2].As<Napi::Boolean>().Value());
                return e.Undefined();
            }));
    out.Set("stopWaiting", Napi::Function::New(env, [control](const Napi::CallbackInfo & call) {
                control->StopWaiting();
                return call.Env().Undefined();
            }));
    out.Set("forwardsStarted", Napi::Function::New(env, [control](const Napi::CallbackInfo & call) {
                return Napi::Number::New(call.Env(), static_cast<double>(control->ForwardsStarted()));
            }));
    worker->Queue();
    return out;
}

// evalImage(chunks, index, seqId, nPast, cancellation?) → Promise<newNPast>
// Checks what libmtmd would otherwise assert on: the chunk is an image of a projector for this model,
// the image fits in the context, and a non-causal projector's image fits in one ubatch.
Napi::Value Context::EvalImage(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    auto h = Idle(env);
    if (info.Length() < 4) Throw(env, "INVALID_ARGUMENT", "evalImage(chunks, index, seqId, nPast)");
    auto chunks = Chunks::HandleOf(info[0]);
    if (chunks->projector->model != h->model) Throw(env, "INVALID_ARGUMENT", "the projector was loaded for a different model");
    const size_t n_chunks = mtmd_input_chunks_size(chunks->chunks);
    const int32_t index = arguments::IntegerArg(info, 1, "chunk index", 0, static_cast<int64_t>(n_chunks) - 1);
    const mtmd_input_chunk * chunk = mtmd_input_chunks_get(chunks->chunks, index);
    if (mtmd_input_chunk_get_type(chunk) == MTMD_INPUT_CHUNK_TYPE_TEXT) Throw(env, "INVALID_ARGUMENT", "chunk " + std::to_string(index) + " is text, not media");
    const int32_t seq = SeqArg(info, 2, *h);
    const int32_t n_past = arguments::IntegerArg(info, 3, "nPast", 0, INT32_MAX);
    const int64_t n_ctx = llama_n_ctx(h->ctx);
    const int64_t n_tokens = static_cast<int64_t>(mtmd_input_chunk_get_n_tokens(chunk));
    const int64_t n_pos = mtmd_input_chunk_get_n_pos(chunk);
    if (n_past + std::max(n_pos, n_tokens) > n_ctx) {
        Throw(env, "CONTEXT_FULL", "the image needs " + std::to_string(n_tokens) + " tokens at position " + std::to_string(n_past) +
                                       ", beyond the context size " + std::to_string(n_ctx) + ": create the context with a larger contextSize");
    }
    if (mtmd_decode_use_non_causal(chunks->projector->ctx, chunk) && n_tokens > static_cast<int64_t>(llama_n_ubatch(h->ctx))) {
        Throw(env, "UBATCH_TOO_SMALL", "this projector attends to a whole image at once, which needs ubatchSize >= " + std::to_string(n_tokens) +
                                           " (the context has " + std::to_string(llama_n_ubatch(h->ctx)) + ")");
    }
    CancelFlag cancel = Cancellation::FlagOf(info.Length() > 4 ? info[4] : env.Undefined());
    auto * worker = new ImageEvalWorker(env, h, chunks, static_cast<size_t>(index), seq, n_past, cancel);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

Napi::Value Context::Dispose(const Napi::CallbackInfo & info) {
    if (handle_ && handle_->busy.load()) {
        Throw(info.Env(), "CONTEXT_BUSY", "the context is running a decode: await it (or abort it) before disposing");
    }
    handle_.reset();
    return info.Env().Undefined();
}

}  // namespace stagebeam
