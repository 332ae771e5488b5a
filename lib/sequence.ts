// Sequence: one stream of tokens in a context's KV cache, with its own sampler.
//
// Invariant: the last token of a sequence is kept *pending* (in `tokens`, not yet in the cache), so the
// next generation step decodes it and samples from its logits. That makes every step the same
// ("decode each sequence's pending token, sample the next") and lets a fork start sampling from the
// shared prefix without anyone holding on to logits.
import { throwIfAborted } from "./abort.js";
import type { TokenLogprob } from "./batch-scheduler.js";
import type { Context } from "./context.js";
import type { EngineSequence } from "./engine/types.js";
import { createError, DisposedError, InvalidArgumentError } from "./errors.js";
import { Mutex } from "./mutex.js";
import type { NativeSampler } from "./native.js";
import { createSampler, type SamplingOptions } from "./sampling.js";

export interface EvaluateOptions {
  signal?: AbortSignal;
  /** For text input: add BOS when the sequence is empty (default true). */
  addSpecial?: boolean;
  /** For text input: parse special-token text such as `<|eot_id|>` (default true). */
  parseSpecial?: boolean;
  /**
   * Also read the distribution after the last token: its top-k logprobs and the logprobs of these
   * probe tokens. This evaluates the whole input (nothing stays pending).
   */
  logprobs?: { topK?: number; probes?: readonly number[] };
}

export interface EvaluateResult {
  /** Tokens added to the sequence. */
  tokens: number[];
  /** Present when options.logprobs was given. */
  next?: { top: TokenLogprob[]; probes: number[] };
}

/** @internal state a Context and generate() update; not part of the public surface. */
export interface SequenceState {
  tokens: number[];
  /** Next position to write in the KV cache (tokens already in the cache). */
  nPast: number;
  pending: number | null;
  sampler: NativeSampler;
}

export class Sequence implements EngineSequence {
  readonly id: number;
  readonly context: Context;
  /** @internal */
  readonly lock = new Mutex();
  /** @internal */
  state: SequenceState;
  #disposed = false;

  /** @internal use context.createSequence() or sequence.fork() */
  constructor(context: Context, id: number, state: SequenceState) {
    this.context = context;
    this.id = id;
    this.state = state;
  }

  /** Every token of the sequence, prompt and generated. */
  get tokens(): readonly number[] {
    return this.state.tokens;
  }

  get length(): number {
    return this.state.tokens.length;
  }

  /** Positions written to the KV cache (the pending last token is not yet written). */
  get position(): number {
    return this.state.nPast;
  }

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Replaces the sampler (e.g. a new temperature or seed). Takes effect at the next generation. */
  setSampling(options: SamplingOptions): void {
    this.#checkLive();
    const sampler = createSampler(this.context.model.native, options);
    this.state.sampler.dispose();
    this.state.sampler = sampler;
  }

  /** Appends text (tokenized with the model's vocabulary) or tokens and evaluates them. */
  evaluate(input: string | readonly number[], options: EvaluateOptions = {}): Promise<EvaluateResult> {
    return this.lock.run(() => this.evaluateLocked(input, options));
  }

  /** @internal */
  async evaluateLocked(input: string | readonly number[], options: EvaluateOptions): Promise<EvaluateResult> {
    this.#checkLive();
    throwIfAborted(options.signal);
    const added =
      typeof input === "string"
        ? this.context.model.tokenize(input, {
            addSpecial: (options.addSpecial ?? true) && this.state.tokens.length === 0,
            parseSpecial: options.parseSpecial ?? true,
          })
        : [...input];
    this.context.checkTokens(added);
    const all = this.state.pending === null ? added : [this.state.pending, ...added];
    if (all.length === 0) return { tokens: [] };

    const readNext = options.logprobs !== undefined;
    const toDecode = readNext ? all : all.slice(0, -1);
    if (this.state.nPast + all.length > this.context.contextSize) {
      throw createError(
        "CONTEXT_FULL",
        `the sequence would reach position ${this.state.nPast + all.length}, beyond the context size ${this.context.contextSize}: ` +
          "create the context with a larger contextSize or shorten the input",
      );
    }
    let next: EvaluateResult["next"];
    if (toDecode.length > 0) {
      const outputs = await this.context.decodeTokens(this, toDecode, {
        signal: options.signal,
        topK: options.logprobs?.topK,
        probes: options.logprobs?.probes,
        wantLast: readNext,
      });
      if (readNext) next = { top: outputs[0]!.top, probes: outputs[0]!.probes };
    }
    this.state.nPast += toDecode.length;
    this.state.pending = readNext ? null : all[all.length - 1]!;
    this.state.tokens.push(...added);
    this.context.stats.promptTokens += toDecode.length;
    return { tokens: added, next };
  }

  /**
   * A new sequence that shares this one's KV cells (no copy: the cells are tagged with the new id) and
   * starts with a clone of its sampler, grammar state included.
   */
  fork(): Promise<Sequence> {
    return this.lock.run(() => {
      this.#checkLive();
      return this.context.forkSequence(this);
    });
  }

  /** Frees the sequence's cells (those no other sequence shares) and returns its id to the pool. */
  dispose(): Promise<void> {
    if (this.#disposed) return Promise.resolve();
    this.#disposed = true;
    return this.lock.run(() => this.context.releaseSequence(this));
  }

  #checkLive(): void {
    if (this.#disposed) throw new DisposedError("DISPOSED", `sequence ${this.id} has been disposed`);
    if (this.context.disposed) throw new DisposedError("DISPOSED", "the context has been disposed");
  }

  /** @internal */
  checkLive(): void {
    this.#checkLive();
  }
}

export function assertDistinct(sequences: readonly Sequence[]): void {
  if (new Set(sequences.map((s) => s.id)).size !== sequences.length) {
    throw new InvalidArgumentError("INVALID_ARGUMENT", "the same sequence appears twice in one generate() call");
  }
}
