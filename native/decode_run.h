// A decode run: lockstep generation of one or more sequences for many steps in one native call, so the
// next forward pass starts as soon as the last step's tokens are sampled instead of after a round trip
// through JS (the N-API hop, the scheduler, the generate loop: about half a millisecond a step on the
// benchmark machine, 2–3% of a 1B model's decode step on a CPU).
//
// Policy stays in JS. After each step the worker reports the sampled tokens and JS answers with a
// verdict: which sequences go on (stop strings, aborts, a consumer that stopped reading are JS's to
// judge). The worker does not wait for it before the next forward pass: it decodes every sequence that
// the rules it knows let go on (its token budget, end of generation, the context's end) while JS
// judges, and waits for the verdict only before sampling. A row the verdict stops is removed from the
// cache again, unsampled, so the tokens and sampler states are the step-by-step ones. (The cell such a
// row held is free again; later rows may fill it, so the cache's layout — and with it the last bits of
// llama.cpp's sums — can differ from a step-by-step run's, as it does between batch shapes.)
#pragma once

#include <napi.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "busy_worker.h"
#include "decode_request.h"
#include "handles.h"

namespace stagebeam {

// What JS and the worker share while a run lasts: the verdicts, and a way to stop waiting for one.
//
// The run ends only at points JS chose (a verdict that stops everyone, or asks to yield) or where it can
// no longer go on (budgets, cancellation) — never at a moment the worker happens to reach first — so a
// run's steps, and the cells its rows take, do not depend on timing.
class RunControl {
  public:
    // JS: the sequences that go on after step `step` (the others stop there); with `yield_after`, the
    // run ends after sampling the next step (others are queued on the context).
    void Verdict(int64_t step, std::vector<int32_t> continuing, bool yield_after);
    // JS: stop waiting for a verdict — the consumer is busy with work queued behind this run. The rows
    // decoded ahead are dropped and the run ends.
    void StopWaiting();

    // Worker: waits for the verdict on `step`. False when the run must end without it (StopWaiting, or
    // `cancel` raised).
    bool WaitVerdict(int64_t step, const std::atomic<bool> & cancel, std::vector<int32_t> & continuing, bool & yield_after);
    // Read by llama.cpp's abort callback during the forward pass after `step`: true when the verdict on
    // `step` has come and stops every sequence, so the pass decoded ahead can be cut short.
    bool StopsAll(int64_t step) const { return step >= 0 && empty_verdict_step_.load() == step; }
    // Forward passes started so far: JS reads it at any moment (a step's report arrives after its pass).
    void CountForward() { forwards_started_.fetch_add(1); }
    int64_t ForwardsStarted() const { return forwards_started_.load(); }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int64_t verdict_step_ = -1;
    std::vector<int32_t> continuing_;
    bool yield_after_ = false;
    bool stop_waiting_ = false;
    std::atomic<int64_t> empty_verdict_step_{-1};
    std::atomic<int64_t> forwards_started_{0};
};

// One step's report to JS.
struct RunStep {
    int64_t step = 0;
    std::vector<int32_t> seq_ids;
    std::vector<int32_t> tokens;
    std::vector<float> logprobs;  // NaN where the request did not ask for the sequence's logprobs
    double forward_ms = 0.0;
    double read_ms = 0.0;
};

// Per sequence, beside the request (one output row per sequence): how many outputs it may still give,
// and whether an end-of-generation token ends it.
struct RunLimits {
    std::vector<int32_t> budgets;
    std::vector<uint8_t> stop_at_eog;
};

class DecodeRunWorker : public BusyWorker<ContextHandle, Napi::AsyncProgressQueueWorker<RunStep>> {
  public:
    DecodeRunWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, DecodeRequest request, RunLimits limits, CancelFlag cancel,
                    std::shared_ptr<RunControl> control, Napi::Function on_step);

  protected:
    void Execute(const ExecutionProgress & progress) override;
    void OnProgress(const RunStep * steps, size_t count) override;
    Napi::Value Result(Napi::Env env) override;

  private:
    struct Live {
        int32_t seq_id;
        int32_t token;     // pending: decoded by the next forward pass
        int32_t position;  // where it goes
        int32_t budget;    // outputs it may still give
        bool stop_at_eog;
        std::shared_ptr<SamplerHandle> sampler;
        uint8_t logprob;
    };
    void Run(const ExecutionProgress & progress);
    // Decodes one row per sequence in `rows`; on failure removes them again and returns llama_decode's code.
    int32_t Forward(const std::vector<Live> & rows, int64_t after_step, double & forward_ms);
    void RemoveRows(const std::vector<Live> & rows);

    DecodeRequest request_;
    RunLimits limits_;
    std::shared_ptr<RunControl> control_;
    Napi::FunctionReference on_step_;
    int64_t steps_ = 0;
    int64_t discarded_rows_ = 0;
    double forward_ms_ = 0.0;  // of discarded forward passes only: every step reports its own
    // Read by the abort callback from the compute threads.
    std::atomic<int64_t> current_after_step_{-1};
};

}  // namespace stagebeam
