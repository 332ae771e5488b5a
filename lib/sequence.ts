// Sequence: one stream of tokens in a context's KV cache, with its own sampler.
//
// Invariant: the last token of a sequence is kept *pending* (in `tokens`, not yet in the cache), so the
// next generation step decodes it and samples from its logits. That makes every step the same
// ("decode each sequence's pending token, sample the next") and lets a fork start sampling from the
// shared prefix without anyone holding on to logits.
import { throwIfAborted } from "./abort.js";
import { isTokens, preparePrompt, promptPositions, type PreparedPrompt } from "./prompt.js";
import type { Context } from "./context.js";
import type { EvaluateOptions, EvaluateResult } from "./engine/evaluation.js";
import type { MarkedPrompt, PromptInput, PromptPart } from "./engine/prompt-input.js";
import type { EngineSequence } from "./engine/types.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { EvaluateOptions, EvaluateResult, MarkedPrompt, PromptPart };
import { createError, DisposedError, InvalidArgumentError } from "./errors.js";
import { Mutex } from "./mutex.js";
import type { SamplingOptions } from "./engine/sampling-options.js";
import { createSampler } from "./sampling.js";
import type { SequenceState } from "./sequence-state.js";

export class Sequence implements EngineSequence {
  readonly id: number;
  readonly context: Context;
  /** @internal */
  readonly lock = new Mutex();
  /** @internal changed only through its transitions (sequence-state.ts) */
  readonly state: SequenceState;
  #disposed = false;

  /** @internal use context.createSequence() or sequence.fork() */
  constructor(context: Context, id: number, state: SequenceState) {
    this.context = context;
    this.id = id;
    this.state = state;
  }

  /** Every text token of the sequence, prompt and generated (images occupy positions, not tokens). */
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
    this.checkLive();
    this.state.replaceSampler(createSampler(this.context.model.native, options));
  }

  /**
   * Appends input and evaluates it: text (tokenized with the model's vocabulary), tokens, parts mixing
   * text and images, or a prompt with media markers and its images. Images need the model's projector;
   * each image is encoded once here, and forks of this sequence share its cells.
   */
  evaluate(input: PromptInput, options: EvaluateOptions = {}): Promise<EvaluateResult> {
    return this.lock.run(() => {
      if (typeof input === "string" || isTokens(input)) return this.evaluateLocked(input, options);
      return this.#evaluateMedia(input, options);
    });
  }

  async #evaluateMedia(input: readonly PromptPart[] | MarkedPrompt, options: EvaluateOptions): Promise<EvaluateResult> {
    this.checkLive();
    throwIfAborted(options.signal);
    const prepared = await preparePrompt(this.context.model, input, {
      addSpecial: (options.addSpecial ?? true) && this.state.tokens.length === 0 && this.state.nPast === 0,
      parseSpecial: options.parseSpecial ?? true,
    });
    return this.evaluatePrepared(prepared, 0, options);
  }

  /**
   * @internal Evaluates a prepared prompt from item `skip` on (the items before it are already in this
   * sequence, e.g. from a cached prefix). Text and images go chunk by chunk; if one fails, the sequence
   * goes back to how it was.
   */
  async evaluatePrepared(prepared: PreparedPrompt, skip: number, options: EvaluateOptions): Promise<EvaluateResult> {
    const remaining = promptPositions(prepared) - skip;
    if (this.state.nPast + remaining > this.context.contextSize) {
      throw createError(
        "CONTEXT_FULL",
        `the input needs ${remaining} positions after position ${this.state.nPast}, beyond the context size ${this.context.contextSize}: ` +
          "create the context with a larger contextSize or use a smaller image",
      );
    }
    const saved = this.state.snapshot();
    const added: number[] = [];
    let next: EvaluateResult["next"];
    let item = 0;
    try {
      for (const [index, segment] of prepared.segments.entries()) {
        const last = index === prepared.segments.length - 1;
        if (segment.type === "text") {
          const tokens = segment.tokens.slice(Math.max(0, skip - item));
          item += segment.tokens.length;
          if (tokens.length === 0 && !(last && options.logprobs)) continue;
          const result = await this.evaluateLocked(tokens, { ...options, logprobs: last ? options.logprobs : undefined });
          added.push(...result.tokens);
          next = result.next;
        } else {
          item += 1;
          if (item <= skip) continue;
          await this.context.evaluateImage(this, segment.chunks, segment.chunkIndex, segment.cells, options.signal);
        }
      }
    } catch (error) {
      await this.context.truncate(this, saved.nPast);
      this.state.restore(saved);
      throw error;
    }
    return { tokens: added, next };
  }

  /** @internal */
  async evaluateLocked(input: string | readonly number[], options: EvaluateOptions): Promise<EvaluateResult> {
    this.checkLive();
    throwIfAborted(options.signal);
    // A topK of another type reached the native call and left the call unsettled (fuzz harness: a hang).
    const topK = options.logprobs?.topK;
    if (topK !== undefined && !(Number.isSafeInteger(topK) && topK >= 0)) {
      throw createError("INVALID_ARGUMENT", `logprobs.topK must be a non-negative integer, got ${String(topK)}`);
    }
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
    this.state.appendText(added, toDecode.length, readNext ? null : all[all.length - 1]!);
    this.context.stats.promptTokens += toDecode.length;
    return { tokens: added, next };
  }

  /**
   * A new sequence that shares this one's KV cells (no copy: the cells are tagged with the new id) and
   * starts with a clone of its sampler, grammar state included.
   */
  fork(): Promise<Sequence> {
    return this.lock.run(() => {
      this.checkLive();
      return this.context.forkSequence(this);
    });
  }

  /** Frees the sequence's cells (those no other sequence shares) and returns its id to the pool. */
  dispose(): Promise<void> {
    if (this.#disposed) return Promise.resolve();
    this.#disposed = true;
    return this.lock.run(() => this.context.releaseSequence(this));
  }

  /**
   * @internal Marks the sequence disposed and frees its sampler, for a caller that has already taken its
   * cells and id (context.forkInBackground reusing it); nothing may hold or wait on its lock.
   */
  abandon(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.state.dispose();
  }

  /** @internal throws DISPOSED for a disposed sequence or context */
  checkLive(): void {
    if (this.#disposed) throw new DisposedError("DISPOSED", `sequence ${this.id} has been disposed`);
    if (this.context.disposed) throw new DisposedError("DISPOSED", "the context has been disposed");
  }
}

export function assertDistinct(sequences: readonly Sequence[]): void {
  if (new Set(sequences.map((s) => s.id)).size !== sequences.length) {
    throw new InvalidArgumentError("INVALID_ARGUMENT", "the same sequence appears twice in one generate() call");
  }
}
