#include "decode_run.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <unordered_set>

#include "decode_failure.h"
#include "errors.h"
#include "log_capture.h"
#include "output_reader.h"

namespace stagebeam {

void RunControl::Verdict(int64_t step, std::vector<int32_t> continuing, bool yield_after) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (step <= verdict_step_) return;
        verdict_step_ = step;
        yield_after_ = yield_after;
        if (continuing.empty()) empty_verdict_step_.store(step);
        continuing_ = std::move(continuing);
    }
    changed_.notify_all();
}

void RunControl::StopWaiting() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stop_waiting_ = true;
    }
    changed_.notify_all();
}

bool RunControl::WaitVerdict(int64_t step, const std::atomic<bool> & cancel, std::vector<int32_t> & continuing, bool & yield_after) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        // A cancellation wins over a verdict that came with it or after it.
        if (cancel.load()) return false;
        if (verdict_step_ >= step) {
            continuing = continuing_;
            yield_after = yield_after_;
            return true;
        }
        if (stop_waiting_) return false;
        // A Cancellation is raised without notifying anyone: look at it every millisecond.
        changed_.wait_for(lock, std::chrono::milliseconds(1));
    }
}

DecodeRunWorker::DecodeRunWorker(Napi::Env env, std::shared_ptr<ContextHandle> context, DecodeRequest request, RunLimits limits,
                                 CancelFlag cancel, std::shared_ptr<RunControl> control, Napi::Function on_step)
    : BusyWorker(env, "stagebeam.decodeRun", std::move(context), std::move(cancel)),
      request_(std::move(request)),
      limits_(std::move(limits)),
      control_(std::move(control)),
      on_step_(Napi::Persistent(on_step)) {}

void DecodeRunWorker::Execute(const ExecutionProgress & progress) {
    Guarded([&] { Run(progress); });
}

int32_t DecodeRunWorker::Forward(const std::vector<Live> & rows, int64_t after_step, double & forward_ms) {
    ContextHandle & h = *context_;
    llama_batch & b = h.batch;
    b.n_tokens = static_cast<int32_t>(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        b.token[i] = rows[i].token;
        b.pos[i] = rows[i].position;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = rows[i].seq_id;
        b.logits[i] = 1;
    }
    current_after_step_.store(after_step);
    // Checked right before the pass is counted as started (nothing of `rows` is in the cache yet, their
    // tokens stay pending): an abort before this point starts no further pass.
    if (cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");
    control_->CountForward();
    const auto started = std::chrono::steady_clock::now();
    const int32_t rc = llama_decode(h.ctx, b);
    if (rc == 0) llama_synchronize(h.ctx);
    forward_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    if (rc != 0) RemoveRows(rows);
    return rc;
}

void DecodeRunWorker::RemoveRows(const std::vector<Live> & rows) {
    llama_memory_t mem = llama_get_memory(context_->ctx);
    for (const Live & row : rows) llama_memory_seq_rm(mem, row.seq_id, row.position, -1);
}

void DecodeRunWorker::Run(const ExecutionProgress & progress) {
    ContextHandle & h = *context_;
    ClearCapturedErrors();
    const int32_t n_vocab = llama_vocab_n_tokens(h.model->vocab);
    const int32_t n_ctx = static_cast<int32_t>(llama_n_ctx(h.ctx));

    // The abort callback cuts a forward pass short when the run is cancelled, or when the verdict it
    // would wait for stops every sequence (the pass is then wasted work).
    struct AbortData {
        const std::atomic<bool> * cancel;
        const RunControl * control;
        const std::atomic<int64_t> * after_step;
    } abort_data{cancel_.get(), control_.get(), &current_after_step_};
    struct AbortScope {
        llama_context * ctx;
        ~AbortScope() { llama_set_abort_callback(ctx, nullptr, nullptr); }
    } abort_scope{h.ctx};
    llama_set_abort_callback(
        h.ctx,
        [](void * data) {
            auto * a = static_cast<AbortData *>(data);
            return a->cancel->load() || a->control->StopsAll(a->after_step->load());
        },
        &abort_data);

    std::vector<Live> rows;
    for (size_t i = 0; i < request_.tokens.size(); ++i) {
        rows.push_back({request_.seq_ids[i], request_.tokens[i], request_.positions[i], limits_.budgets[i], limits_.stop_at_eog[i] != 0,
                        request_.samplers[i], request_.logprobs[i]});
    }

    for (int64_t step = 0;; ++step) {
        // Step 0's rows are what JS asked for; every later pass decodes tokens JS has not judged yet.
        const bool speculative = step > 0;
        double forward_ms = 0.0;
        // After step 0 (step - 1 = -1) no verdict can cut the pass short (RunControl::StopsAll).
        const int32_t rc = Forward(rows, step - 1, forward_ms);
        if (rc != 0) {
            if (speculative) {
                discarded_rows_ += static_cast<int64_t>(rows.size());
                forward_ms_ += forward_ms;
            }
            // Cut short because the verdict stopped everyone, or no cells for rows that may not be
            // wanted: the run ends, and JS goes on step by step (which reports a real lack of cells).
            if (speculative && !cancel_->load() && (rc == 1 || rc == 2)) return;
            ThrowDecodeFailure(rc, cancel_->load());
        }

        // The rows the verdict stops were decoded for nothing: out of the cache again, and not sampled.
        std::vector<size_t> kept;  // batch indices of the rows that go on
        bool yield_after = false;
        if (speculative) {
            std::vector<int32_t> continuing;
            if (!control_->WaitVerdict(step - 1, *cancel_, continuing, yield_after)) {
                RemoveRows(rows);
                discarded_rows_ += static_cast<int64_t>(rows.size());
                forward_ms_ += forward_ms;
                if (cancel_->load()) throw NativeError("ABORTED", "the operation was aborted");
                return;  // JS stopped waiting (its consumer waits for work queued behind this run)
            }
            const std::unordered_set<int32_t> going_on(continuing.begin(), continuing.end());
            std::vector<Live> dropped;
            for (size_t i = 0; i < rows.size(); ++i) {
                if (going_on.count(rows[i].seq_id)) kept.push_back(i);
                else dropped.push_back(rows[i]);
            }
            if (!dropped.empty()) {
                RemoveRows(dropped);
                discarded_rows_ += static_cast<int64_t>(dropped.size());
            }
            if (kept.empty()) {
                forward_ms_ += forward_ms;
                return;
            }
        } else {
            for (size_t i = 0; i < rows.size(); ++i) kept.push_back(i);
        }

        // Sample the kept rows with their sequences' samplers (logit rows by batch index).
        DecodeRequest sample;
        sample.outputs.assign(kept.size(), 1);
        for (size_t i : kept) {
            sample.samplers.push_back(rows[i].sampler);
            sample.logprobs.push_back(rows[i].logprob);
        }
        OutputReader reader(sample, n_vocab, h.output_scratch);
        std::vector<OutputReader::Row> logit_rows;
        for (size_t j = 0; j < kept.size(); ++j) {
            const float * logits = llama_get_logits_ith(h.ctx, static_cast<int32_t>(kept[j]));
            if (!logits) throw NativeError("INTERNAL", "llama.cpp returned no logits for an output token");
            logit_rows.push_back({logits, j});
        }
        reader.Read(logit_rows, static_cast<size_t>(std::max<int32_t>(1, llama_n_threads(h.ctx))));

        RunStep report;
        report.step = step;
        report.forward_ms = forward_ms;
        report.read_ms = reader.read_ms();
        report.tokens = reader.tokens();
        report.logprobs = reader.logprobs();
        std::vector<Live> next;
        for (size_t j = 0; j < kept.size(); ++j) {
            Live row = rows[kept[j]];
            report.seq_ids.push_back(row.seq_id);
            const int32_t token = report.tokens[j];
            // What ends a sequence without JS's word (JS ends it for the same reasons): its budget,
            // end of generation, the context's last position.
            const bool eog = row.stop_at_eog && llama_vocab_is_eog(h.model->vocab, token);
            if (row.budget - 1 <= 0 || eog || row.position + 1 >= n_ctx) continue;
            row.token = token;
            row.position += 1;
            row.budget -= 1;
            next.push_back(row);
        }
        progress.Send(&report, 1);
        ++steps_;
        if (next.empty() || yield_after) return;
        // Decode every sequence that may go on, whether or not JS's verdict on this step has come: which
        // rows are decoded ahead (and dropped) then depends on the tokens only, never on timing.
        rows = std::move(next);
    }
}

void DecodeRunWorker::OnProgress(const RunStep * steps, size_t count) {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    for (size_t i = 0; i < count; ++i) {
        const RunStep & s = steps[i];
        Napi::Object out = Napi::Object::New(env);
        out.Set("step", static_cast<double>(s.step));
        auto seq_ids = Napi::Int32Array::New(env, s.seq_ids.size());
        std::copy(s.seq_ids.begin(), s.seq_ids.end(), seq_ids.Data());
        auto tokens = Napi::Int32Array::New(env, s.tokens.size());
        std::copy(s.tokens.begin(), s.tokens.end(), tokens.Data());
        auto logprobs = Napi::Float32Array::New(env, s.logprobs.size());
        std::copy(s.logprobs.begin(), s.logprobs.end(), logprobs.Data());
        out.Set("seqIds", seq_ids);
        out.Set("tokens", tokens);
        out.Set("logprobs", logprobs);
        Napi::Object timing = Napi::Object::New(env);
        timing.Set("forwardMs", s.forward_ms);
        timing.Set("readMs", s.read_ms);
        out.Set("timing", timing);
        try {
            on_step_.Call({out});
        } catch (const Napi::Error &) {
            // No verdict will come after a failed step handler: end the run at once.
            control_->StopWaiting();
        }
    }
}

Napi::Value DecodeRunWorker::Result(Napi::Env env) {
    Napi::Object out = Napi::Object::New(env);
    out.Set("steps", static_cast<double>(steps_));
    out.Set("forwards", static_cast<double>(control_->ForwardsStarted()));
    out.Set("discardedRows", static_cast<double>(discarded_rows_));
    out.Set("discardedForwardMs", forward_ms_);
    return out;
}

}  // namespace stagebeam
