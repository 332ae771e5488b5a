#include "quantize.h"

#include <cstdio>
#include <map>
#include <string>

#include "arguments.h"
#include "errors.h"
#include "gguf.h"
#include "llama.h"
#include "log_capture.h"
#include "promise_worker.h"

namespace stagebeam {

namespace {

const std::map<std::string, llama_ftype> kTypes = {
    {"f16", LLAMA_FTYPE_MOSTLY_F16},       {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},
    {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},
};

class QuantizeWorker : public PromiseWorker<> {
  public:
    QuantizeWorker(Napi::Env env, std::string input, std::string output, llama_ftype type, int threads)
        : PromiseWorker(env, "stagebeam.quantize"), input_(std::move(input)), output_(std::move(output)), type_(type), threads_(threads) {}

  protected:
    void Execute() override {
        Guarded([this] {
            ClearCapturedErrors();
            FILE * f = std::fopen(input_.c_str(), "rb");
            if (!f) throw NativeError("MODEL_NOT_FOUND", "cannot open " + input_ + ": check the path");
            std::fclose(f);
            gguf_init_params gp = {/*no_alloc =*/true, /*ctx =*/nullptr};
            gguf_context * g = gguf_init_from_file(input_.c_str(), gp);
            if (!g) throw NativeError("INVALID_GGUF", input_ + " is not a valid GGUF file");
            gguf_free(g);
            llama_model_quantize_params params = llama_model_quantize_default_params();
            params.ftype = type_;
            params.nthread = threads_;
            if (llama_model_quantize(input_.c_str(), output_.c_str(), &params) != 0) {
                std::string why = CapturedErrors();
                throw NativeError("QUANTIZE_FAILED", "quantizing " + input_ + " failed" + (why.empty() ? "" : " (" + why + ")"));
            }
        });
    }

    Napi::Value Result(Napi::Env env) override { return env.Undefined(); }

  private:
    std::string input_, output_;
    llama_ftype type_;
    int threads_;
};

}  // namespace

Napi::Value Quantize(const Napi::CallbackInfo & info) {
    Napi::Env env = info.Env();
    std::string input = arguments::String(info, 0, "input");
    std::string output = arguments::String(info, 1, "output");
    Napi::Object o = arguments::ObjectOr(info, 2);
    std::string type = arguments::Has(o, "type") && o.Get("type").IsString() ? o.Get("type").As<Napi::String>().Utf8Value() : "q8_0";
    auto it = kTypes.find(type);
    if (it == kTypes.end()) {
        std::string known;
        for (const auto & [name, _] : kTypes) known += (known.empty() ? "" : ", ") + name;
        Throw(env, "INVALID_ARGUMENT", "unknown quantization type '" + type + "': use one of " + known);
    }
    if (input == output) Throw(env, "INVALID_ARGUMENT", "the output must be another file than the input");
    int threads = static_cast<int>(arguments::Integer(o, "threads", 0, 0, 1024));
    auto * worker = new QuantizeWorker(env, input, output, it->second, threads);
    Napi::Promise promise = worker->Promise();
    worker->Queue();
    return promise;
}

}  // namespace stagebeam
