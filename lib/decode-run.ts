// A decode run, JS side: lockstep generation for many steps in one native call (native/decode_run.h),
// so the next forward pass starts as soon as a step's tokens are sampled rather than after a round trip
// through JS. The generate loop takes each step's tokens with next() and answers with verdict(): which
// sequences go on. The native side decodes ahead of the verdict and drops what it stops, unsampled, so
// the outcome is the step-by-step one.
//
// Made by BatchScheduler.run(), which starts it when it reaches the head of the queue and asks it to
// yield as soon as anything else is queued on the context. A yield travels with the next verdict, so the
// run ends after a step fixed by the order of events in JS, not by how far the native side has got:
// which steps run alone and which share a batch (and so the last bits of the sums) stays reproducible.
import { AbortError, toStagebeamError } from "./errors.js";
import type { NativeCancellation, NativeContextBase, NativeDecodeRun, NativeRunStep, NativeRunSummary } from "./native.js";
import type { DecodeItem } from "./batch-scheduler.js";

/** A sequence's row in a run: its pending token, and what ends it without a verdict. */
export interface RunItem extends DecodeItem {
  /** Outputs it may give in this run at most (its remaining token budget). */
  budget: number;
  /** An end-of-generation token ends it. */
  stopAtEog: boolean;
}

/** One step as the generate loop reads it. */
export interface RunStepOutput {
  seqId: number;
  token: number;
  /** Null unless its item asked for logprobs. */
  logprob: number | null;
}

export class DecodeRun {
  readonly #items: RunItem[];
  /** The caller's signal: an abort cancels the run (the scheduler listens to it). */
  readonly signal: AbortSignal | undefined;
  #native: NativeDecodeRun | null = null;
  #steps: NativeRunStep[] = [];
  /** Wakes whoever waits for the run to move (a step reported, or the end): next() or close(). */
  #wake: (() => void) | null = null;
  #ended = false;
  #error: unknown = null;
  /** Others want the context: the next verdict asks the run to end after one more step. */
  #yield = false;
  /** The step whose verdict is owed, or null. */
  #owed: number | null = null;
  readonly #logprob: Map<number, boolean>;

  /** @internal: made by BatchScheduler.run(). */
  constructor(items: RunItem[], signal: AbortSignal | undefined) {
    this.#items = items;
    this.signal = signal;
    this.#logprob = new Map(items.map((item) => [item.seqId, item.logprob === true]));
  }

  /**
   * @internal Scheduler: starts the native run; resolves with its totals (null when it failed: next()
   * throws the error, as `failure` makes it) once it has ended and every step was reported. `onStep`
   * keeps the statistics.
   */
  async start(
    context: NativeContextBase,
    cancellation: NativeCancellation,
    onStep: (step: NativeRunStep) => void,
    failure: (error: unknown) => unknown = toStagebeamError,
  ): Promise<NativeRunSummary | null> {
    const items = this.#items;
    try {
      if (this.signal?.aborted) throw new AbortError();
      this.#native = context.decodeRun!(
        {
          tokens: Int32Array.from(items, (item) => item.token),
          positions: Int32Array.from(items, (item) => item.position),
          seqIds: Int32Array.from(items, (item) => item.seqId),
          outputs: new Uint8Array(items.length).fill(1),
          samplers: items.map((item) => item.sampler ?? null),
          logprobs: Uint8Array.from(items, (item) => (item.logprob ? 1 : 0)),
          topK: 0,
        },
        { budgets: Int32Array.from(items, (item) => item.budget), stopAtEog: Uint8Array.from(items, (item) => (item.stopAtEog ? 1 : 0)) },
        (step) => {
          onStep(step);
          this.#steps.push(step);
          this.#wakeUp();
        },
        cancellation,
      );
      return await this.#native.done;
    } catch (error) {
      this.#error = failure(error);
      return null;
    } finally {
      this.#end();
    }
  }

  /** @internal Scheduler: forward passes the native run has started (for the decode-call count). */
  forwardsStarted(): number {
    return this.#native?.forwardsStarted() ?? 0;
  }

  /** @internal Scheduler: ends the run before it started (the context was closed). */
  refuse(reason: unknown): void {
    this.#error = reason;
    this.#end();
  }

  /** The next step's outputs, in the order the native side reports them; null once the run has ended. */
  async next(): Promise<RunStepOutput[] | null> {
    for (;;) {
      const step = this.#steps.shift();
      if (step) {
        this.#owed = step.step;
        return Array.from(step.seqIds, (seqId, i) => ({
          seqId,
          token: step.tokens[i]!,
          logprob: this.#logprob.get(seqId) ? step.logprobs[i]! : null,
        }));
      }
      if (this.#ended) {
        if (this.#error) throw this.#error;
        return null;
      }
      await this.#moved();
    }
  }

  /** The sequences of the last step read that go on; the others stop there. */
  verdict(seqIds: readonly number[]): void {
    if (this.#owed === null) return;
    const step = this.#owed;
    this.#owed = null;
    if (!this.#ended) this.#native?.verdict(step, Int32Array.from(seqIds), this.#yield);
  }

  /**
   * @internal Scheduler: something else is queued. The next verdict asks the run to end after one more
   * step; if that verdict is owed and still not given once this turn of the event loop is over, the
   * consumer is waiting for something — perhaps the very work queued behind this run — so the run stops
   * waiting for it and ends.
   */
  requestYield(): void {
    this.#yield = true;
    const owed = this.#owed;
    if (owed === null || this.#ended) return;
    setImmediate(() => {
      if (this.#owed === owed && !this.#ended) this.#native?.stopWaiting();
    });
  }

  /** Stops every sequence at the last step read (if its verdict is owed) and waits for the run to end. */
  async close(): Promise<void> {
    this.verdict([]);
    if (this.#ended) return;
    this.#native?.stopWaiting();
    while (!this.#ended) await this.#moved();
  }

  #end(): void {
    this.#ended = true;
    this.#wakeUp();
  }

  /** Resolves when a step is reported or the run ends (one waiter at a time: the generate loop). */
  #moved(): Promise<void> {
    return new Promise<void>((resolve) => (this.#wake = resolve));
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
