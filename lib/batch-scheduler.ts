// The one queue through which a Context talks to llama.cpp.
//
// Every decode and memory operation of a context goes through here, in order, because a llama_context
// is not thread-safe. Decode requests that wait while another decode runs are merged into the next
// native call: that is how all live sequences — of one generate() or of several concurrent callers —
// advance in one batch per step.
import { DecodeRun, type RunItem } from "./decode-run.js";
import { AbortError, native, toStagebeamError, type StagebeamError } from "./errors.js";
import { nativeAddon, type NativeCancellation, type NativeContextBase, type NativeDecodeResult, type NativeSampler } from "./native.js";
import type { TokenLogprob } from "./engine/token-logprob.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports it from here.
export type { TokenLogprob };

export interface DecodeItem {
  token: number;
  position: number;
  seqId: number;
  /** Compute logits here (and sample with `sampler`, when given). */
  output: boolean;
  sampler?: NativeSampler | null;
  /**
   * Read this output's distribution — the sampled token's logprob, and the job's top-k and probes: a
   * pass over the whole vocabulary, so only when someone reads it. Default: when the job asks for
   * top-k or probes.
   */
  logprob?: boolean;
}

export interface DecodeOutput {
  /** Sampled token, or null when the output had no sampler. */
  token: number | null;
  /** Logprob of the sampled token under the model's raw distribution; null without a sampler or unless the item asked. */
  logprob: number | null;
  top: TokenLogprob[];
  /** Logprobs of the requested probe tokens, in the order asked. */
  probes: number[];
}

export interface DecodeOptions {
  /** Top-k and probe logprobs for the job's outputs (each implies reading the distribution, see DecodeItem.logprob). */
  topK?: number;
  probes?: readonly number[];
  signal?: AbortSignal;
}

interface DecodeJob {
  kind: "decode";
  items: DecodeItem[];
  options: DecodeOptions;
  resolve: (outputs: DecodeOutput[]) => void;
  reject: (error: unknown) => void;
}

interface ExclusiveJob {
  kind: "exclusive";
  run: () => unknown | Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

interface RunJob {
  kind: "run";
  run: DecodeRun;
}

interface SoonJob {
  run: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface SchedulerStats {
  decodeCalls: number;
  tokensDecoded: number;
  /** Native time in the forward pass, and in reading the outputs (sampling, logprobs), over all calls. */
  forwardMs: number;
  readMs: number;
  /** Decode runs started (a lone generate() call's many steps in one native call; decode-run.ts). */
  runs: number;
}

export class BatchScheduler {
  readonly stats: SchedulerStats = { decodeCalls: 0, tokensDecoded: 0, forwardMs: 0, readMs: 0, runs: 0 };
  readonly #native: NativeContextBase;
  readonly #queue: (DecodeJob | ExclusiveJob | RunJob)[] = [];
  /** Jobs of beforeNextStep(): run at the next gap between steps, ahead of everything queued. */
  readonly #soon: SoonJob[] = [];
  #pumping = false;
  #idle: (() => void)[] = [];
  /** Set by close(): why every decode from then on is refused. */
  #closed: StagebeamError | null = null;
  /** The running native decode's cancellation. */
  #running: NativeCancellation | null = null;
  /** Native decode calls made, and the forward passes of runs that have ended (stats.decodeCalls adds the running one's). */
  #decodeCalls = 0;
  /** The decode run in progress, asked to yield whenever anything else is queued. */
  #activeRun: DecodeRun | null = null;
  /** generate() calls holding sequences of this context: a run is only for one alone. */
  #generations = 0;
  readonly #batchCapacity: number;
  readonly #runs: boolean;

  /** batchCapacity: most tokens in one native call; runs: whether a lone generate() may use decode runs. */
  constructor(nativeContext: NativeContextBase, options: { batchCapacity?: number; runs?: boolean } = {}) {
    this.#native = nativeContext;
    this.#batchCapacity = options.batchCapacity ?? Number.POSITIVE_INFINITY;
    this.#runs = (options.runs ?? true) && typeof nativeContext.decodeRun === "function";
    // Native calls started, a run's forward passes counted as they start (read at any moment: the abort
    // tests count the calls started after an abort).
    Object.defineProperty(this.stats, "decodeCalls", {
      get: () => this.#decodeCalls + (this.#activeRun?.forwardsStarted() ?? 0),
      enumerable: true,
    });
  }

  /**
   * Counts a generate() call as live until the returned function is called: while two are live, they
   * advance step by step in merged batches, never in runs.
   */
  openGeneration(): () => void {
    this.#generations++;
    if (this.#generations > 1) this.#activeRun?.requestYield();
    let open = true;
    return () => {
      if (open) this.#generations--;
      open = false;
    };
  }

  /**
   * Whether a lockstep step of `width` sequences may go as a run (run()): the engine has runs, the
   * batch fits, and nothing else wants the context — no other generate() call, nothing queued or running.
   */
  canRun(width: number): boolean {
    return (
      this.#runs &&
      width <= this.#batchCapacity &&
      this.#generations <= 1 &&
      this.#queue.length === 0 &&
      this.#soon.length === 0 &&
      this.#running === null &&
      this.#activeRun === null &&
      !this.#closed
    );
  }

  /**
   * Queues a decode run (decode-run.ts): lockstep generation of `items` (one output with a sampler per
   * sequence, no top-k or probes) for many steps in one native call. Read it with next(); answer every
   * step with verdict(); close() it when done.
   */
  run(items: RunItem[], options: { signal?: AbortSignal } = {}): DecodeRun {
    const run = new DecodeRun(items, options.signal);
    if (this.#closed) {
      run.refuse(this.#closed);
      return run;
    }
    this.#queue.push({ kind: "run", run });
    void this.#pump();
    return run;
  }

  /** Something else wants the context: the run in progress ends soon, after a step its verdicts fix (decode-run.ts). */
  #wanted(): void {
    this.#activeRun?.requestYield();
  }

  decode(items: DecodeItem[], options: DecodeOptions = {}): Promise<DecodeOutput[]> {
    if (this.#closed) return Promise.reject(this.#closed);
    if (options.signal?.aborted) return Promise.reject(new AbortError());
    return new Promise((resolve, reject) => {
      this.#queue.push({ kind: "decode", items, options, resolve, reject });
      this.#wanted();
      void this.#pump();
    });
  }

  /**
   * Runs `run` between decodes, alone: memory operations (fork, remove) and native calls that are not
   * token batches (an image's encode and decode). An async `run` holds the queue until it settles.
   */
  exclusive<T>(run: () => T | Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ kind: "exclusive", run, resolve: resolve as (v: unknown) => void, reject });
      this.#wanted();
      void this.#pump();
    });
  }

  /**
   * Runs `run` (synchronous) at the next gap between steps, ahead of every job queued — so it never
   * splits a batch step, as a memory operation queued among the steps' jobs would (the step gathers only
   * the decodes queued before the first such operation). Only for work that may overtake what is queued:
   * it must not touch a sequence any queued job touches (context.forkInBackground copies a prompt whose
   * evaluation has finished, into an id nobody else uses).
   */
  beforeNextStep<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<T>((resolve, reject) => {
      this.#soon.push({ run, resolve: resolve as (v: unknown) => void, reject });
      this.#wanted();
      void this.#pump();
    });
  }

  #runSoon(): void {
    for (const job of this.#soon.splice(0)) {
      try {
        job.resolve(job.run());
      } catch (error) {
        job.reject(toStagebeamError(error));
      }
    }
  }

  /**
   * Refuses every decode and memory operation from now on with `reason`, those queued included, and
   * cancels the decode running now: what disposing the context does, so requests in flight end with
   * DISPOSED at their next step instead of running to their end first.
   */
  close(reason: StagebeamError): void {
    if (this.#closed) return;
    this.#closed = reason;
    this.#running?.cancel();
    for (const job of [...this.#queue.splice(0), ...this.#soon.splice(0)]) {
      if ("kind" in job && job.kind === "run") job.run.refuse(reason);
      else job.reject(reason);
    }
  }

  /** Resolves when nothing is queued or running. */
  drained(): Promise<void> {
    if (!this.#pumping && this.#queue.length === 0 && this.#soon.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0 || this.#soon.length > 0) {
        this.#runSoon();
        if (this.#queue.length === 0) continue;
        const head = this.#queue[0]!;
        if (head.kind === "exclusive") {
          this.#queue.shift();
          try {
            head.resolve(await head.run());
          } catch (error) {
            head.reject(toStagebeamError(error));
          }
          continue;
        }
        if (head.kind === "run") {
          this.#queue.shift();
          await this.#runSteps(head);
          continue;
        }
        // Let every caller whose previous step just finished submit its next one, so they all share
        // this native call instead of alternating.
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.#runSoon();
        const jobs: DecodeJob[] = [];
        while (this.#queue.length > 0 && this.#queue[0]!.kind === "decode" ) {
          const job = this.#queue.shift() as DecodeJob;
          if (this.#closed) job.reject(this.#closed);
          else if (job.options.signal?.aborted) job.reject(new AbortError());
          else jobs.push(job);
        }
        if (jobs.length > 0) await this.#run(jobs);
      }
    } finally {
      this.#pumping = false;
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
  }

  async #runSteps(job: RunJob): Promise<void> {
    const cancellation = new (nativeAddon().Cancellation)();
    const onAbort = () => cancellation.cancel();
    job.run.signal?.addEventListener("abort", onAbort);
    this.#running = cancellation;
    this.#activeRun = job.run;
    this.stats.runs++;
    if (this.#queue.length > 0 || this.#soon.length > 0 || this.#generations > 1) job.run.requestYield();
    try {
      const summary = await job.run.start(
        this.#native,
        cancellation,
        (step) => {
          this.stats.tokensDecoded += step.seqIds.length;
          this.stats.forwardMs += step.timing.forwardMs;
          this.stats.readMs += step.timing.readMs;
        },
        // Cancelled by close(): the caller learns why (DISPOSED), as a decode job's caller does.
        (error) => this.#closed ?? toStagebeamError(error),
      );
      if (summary) {
        // The rows decoded for nothing (a verdict stopped them) and their passes' time.
        this.stats.tokensDecoded += summary.discardedRows;
        this.stats.forwardMs += summary.discardedForwardMs;
      }
    } finally {
      this.#decodeCalls += job.run.forwardsStarted();
      this.#running = null;
      this.#activeRun = null;
      job.run.signal?.removeEventListener("abort", onAbort);
    }
  }

  async #run(jobs: DecodeJob[]): Promise<void> {
    const items = jobs.flatMap((job) => job.items);
    const n = items.length;
    const tokens = new Int32Array(n);
    const positions = new Int32Array(n);
    const seqIds = new Int32Array(n);
    const outputs = new Uint8Array(n);
    const samplers: (NativeSampler | null)[] = [];
    const logprobs: number[] = [];
    for (const job of jobs) {
      const reads = (job.options.topK ?? 0) > 0 || (job.options.probes?.length ?? 0) > 0;
      for (const item of job.items) {
        if (!item.output) continue;
        samplers.push(item.sampler ?? null);
        logprobs.push((item.logprob ?? reads) ? 1 : 0);
      }
    }
    items.forEach((item, i) => {
      tokens[i] = item.token;
      positions[i] = item.position;
      seqIds[i] = item.seqId;
      outputs[i] = item.output ? 1 : 0;
    });
    const topK = Math.max(0, ...jobs.map((job) => job.options.topK ?? 0));
    const probeList = [...new Set(jobs.flatMap((job) => job.options.probes ?? []))];
    // Where each probe's column is: a lookup per probe, not a scan (a whole-vocabulary probe list has 128k).
    const probeColumn = new Map(probeList.map((token, column) => [token, column]));

    // The merged call is cancelled only when every caller in it has aborted; a caller that aborts
    // alone stops after this step (one step is short).
    const cancellation = new (nativeAddon().Cancellation)();
    const signals = jobs.map((job) => job.options.signal);
    const onAbort = () => {
      if (signals.every((signal) => signal?.aborted)) cancellation.cancel();
    };
    for (const signal of signals) signal?.addEventListener("abort", onAbort);

    let result: NativeDecodeResult;
    this.#running = cancellation;
    try {
      this.#decodeCalls++;
      result = await native(() =>
        this.#native.decode(
          { tokens, positions, seqIds, outputs, samplers, logprobs: Uint8Array.from(logprobs), topK, probes: Int32Array.from(probeList) },
          cancellation,
        ),
      );
      this.stats.tokensDecoded += n;
      this.stats.forwardMs += result.timing.forwardMs;
      this.stats.readMs += result.timing.readMs;
    } catch (error) {
      for (const job of jobs) job.reject(this.#closed ?? error);
      return;
    } finally {
      this.#running = null;
      for (const signal of signals) signal?.removeEventListener("abort", onAbort);
    }

    let outputIndex = 0;
    for (const job of jobs) {
      const jobOutputs: DecodeOutput[] = [];
      for (const item of job.items) {
        if (!item.output) continue;
        const o = outputIndex++;
        const top: TokenLogprob[] = [];
        for (let j = 0; j < (job.options.topK ?? 0); j++) {
          top.push({ token: result.topTokens[o * topK + j]!, logprob: result.topLogprobs[o * topK + j]! });
        }
        const probes = (job.options.probes ?? []).map(
          (token) => result.probeLogprobs[o * probeList.length + probeColumn.get(token)!]!,
        );
        const sampled = item.sampler ? result.tokens[o]! : null;
        const read = logprobs[o] === 1;
        jobOutputs.push({ token: sampled, logprob: sampled === null || !read ? null : result.logprobs[o]!, top, probes });
      }
      // Resolved even if its caller aborted meanwhile: the tokens are in the cache now, and the caller
      // must record them before it stops, or its view of the sequence would be wrong.
      job.resolve(jobOutputs);
    }
  }
}
