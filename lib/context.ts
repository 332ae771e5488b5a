// Context: one llama_context whose unified KV cache holds up to `sequences` sequences. Creates
// sequences, forks them by tagging cells (no copy), and runs lockstep generation over any of them.
import { availableParallelism } from "node:os";
import { BatchScheduler, type DecodeOutput } from "./batch-scheduler.js";
import { CellLedger } from "./cell-ledger.js";
import { createError, DisposedError, InvalidArgumentError, native, SequenceLimitError, StagebeamError } from "./errors.js";
import type { ChatMessage } from "./engine/chat-message.js";
import type { GenerateOptions } from "./engine/generation-types.js";
import type { PromptInput } from "./engine/prompt-input.js";
import type { SamplingOptions } from "./engine/sampling-options.js";
import { Generation, type GenerationRequest } from "./generation.js";
import type { Model } from "./model.js";
import { withCancellation } from "./abort.js";
import { createMllamaContext } from "./mllama/engine.js";
import { MllamaProjector } from "./mllama/projector.js";
import { MllamaChunks } from "./mllama/chunks.js";
import {
  nativeAddon,
  type NativeCancellation,
  type NativeChunks,
  type NativeContext,
  type NativeContextBase,
  type NativeContextInfo,
  type NativeMllamaContext,
} from "./native.js";
import { checkContextFits } from "./memory-budget.js";
import { createSampler } from "./sampling.js";
import { Semaphore } from "./semaphore.js";
import { PrefixCache, type AcquireOptions, type PrefixCacheOptions } from "./prefix-cache.js";
import { Sequence } from "./sequence.js";
import { SequenceState } from "./sequence-state.js";
import type { EngineContext } from "./engine/types.js";

export interface ContextOptions {
  /** KV cache size in tokens, shared by all sequences (default: 4096, or the model's own if smaller). */
  contextSize?: number;
  /** Most sequences alive at once: prompt, forks, judges (default 8, at most 256). */
  sequences?: number;
  /** Most tokens per llama_decode call (default 512); longer prompts are evaluated in chunks. */
  batchSize?: number;
  ubatchSize?: number;
  /** CPU threads (default: all available). */
  threads?: number;
  threadsBatch?: number;
  flashAttention?: "auto" | "on" | "off";
  /**
   * mllama models only: the type of the self-attention KV cache, "f16" (default, as llama.cpp) or "f32"
   * (exact, for comparing with a reference; twice the memory).
   */
  kvType?: "f16" | "f32";
  /**
   * mllama models only: how many different images the context holds at once (default 2). Each is its
   * vision states' cross K/V for every cross-attention layer — about 210 MB at F16 for the 11B model —
   * shared by every sequence that sees that image.
   */
  images?: number;
  /**
   * Keep evaluated prompts (image + text) in spare sequences so createSequenceFrom() can fork from them.
   * Cached prompts count against `sequences`. Off by default.
   */
  prefixCache?: PrefixCacheOptions;
  /**
   * Concurrent searches (reason()) share batch steps (default true: throughput). With false they take
   * turns, one search at a time, so a result never depends on what else ran: llama.cpp's kernels round
   * differently for different batch shapes and cache layouts, which can flip a near-tie between tokens.
   */
  shareBatches?: boolean;
  /**
   * A generate() call alone on the context runs many steps in one native call, the next forward pass
   * starting as soon as a step's tokens are sampled (default true; llama.cpp models): 2–3% faster
   * decoding on a CPU. The tokens are the step-by-step ones, and reproducible with a seed; one caveat:
   * when a stop string ends one of several sequences, the row decoded ahead for it frees its cell again,
   * and the others' later sums may round differently than step by step (as between batch shapes). With
   * false every step is a round trip through JS, as when calls share the context.
   */
  decodeRuns?: boolean;
}

export interface ContextStats {
  /** Prompt tokens evaluated (forks do not re-evaluate theirs). */
  promptTokens: number;
  /** Tokens sampled by generate(). */
  generatedTokens: number;
  /** Native decode calls (one per lockstep step, however many sequences it carries). */
  decodeCalls: number;
  /** Images encoded into the cache (a failed or aborted evaluation does not count). */
  imageEncodes: number;
  /** Prompt items (tokens, images) createSequenceFrom() reused from the prefix cache. */
  cachedItems: number;
}

export class Context implements EngineContext<Sequence> {
  readonly model: Model;
  readonly info: NativeContextInfo;
  readonly stats: ContextStats = { promptTokens: 0, generatedTokens: 0, decodeCalls: 0, imageEncodes: 0, cachedItems: 0 };
  /** Sequences searches may reserve: all but those the prefix cache keeps. */
  readonly #reservations: Semaphore;
  /** Whether concurrent searches share batch steps (see ContextOptions.shareBatches; lib/reasoning acts on it). */
  readonly shareBatches: boolean;
  /** Present when the context was created with `prefixCache`. */
  readonly prefixCache: PrefixCache | null;
  /** @internal */
  readonly scheduler: BatchScheduler;
  /** @internal */
  readonly ledger = new CellLedger();
  #native: NativeContext | NativeMllamaContext | null;
  readonly #freeIds: number[];
  readonly #sequences = new Set<Sequence>();
  readonly #onDispose: (() => void)[] = [];
  #disposing: Promise<void> | null = null;

  /** @internal use model.createContext() */
  static async create(model: Model, options: ContextOptions): Promise<Context> {
    const trained = model.metadata.contextLength;
    const fa = options.flashAttention ?? "auto";
    if (!["auto", "on", "off"].includes(fa)) {
      throw new InvalidArgumentError("INVALID_ARGUMENT", `flashAttention must be "auto", "on" or "off", got ${String(fa)}`);
    }
    const settings = {
      contextSize: options.contextSize ?? (trained > 0 ? Math.min(4096, trained) : 4096),
      sequences: options.sequences ?? 8,
      batchSize: options.batchSize ?? 512,
      ubatchSize: options.ubatchSize,
      threads: options.threads ?? availableParallelism(),
      threadsBatch: options.threadsBatch,
      flashAttention: fa === "auto" ? -1 : fa === "on" ? 1 : 0,
    };
    // The native side checks ranges; a value that is not a number at all (a Symbol, a BigInt) would
    // throw a TypeError in the memory estimate below before it got there.
    for (const [name, value] of Object.entries(settings)) {
      if (value !== undefined && typeof value !== "number") {
        throw new InvalidArgumentError("INVALID_ARGUMENT", `${name} must be a number, got ${typeof value}`);
      }
    }
    if (options.decodeRuns !== undefined && typeof options.decodeRuns !== "boolean") {
      throw new InvalidArgumentError("INVALID_ARGUMENT", `decodeRuns must be true or false, got ${String(options.decodeRuns)}`);
    }
    const weights = model.mllama;
    // A model split across rpc-servers keeps its offloaded layers' K/V there, in memory this machine's
    // backends do not report: no budget to hold it to, so llama.cpp's own allocation decides.
    if (model.rpc.length === 0) checkContextFits(model.metadata, settings.contextSize, weights && options.kvType === "f32" ? 4 : 2);
    // An mllama context holds `images` images' cross K/V when the model has its projector.
    const projector = model.projector;
    const imageRows = projector instanceof MllamaProjector ? projector.rowsPerImage : 0;
    const nativeContext = weights
      ? await createMllamaContext(weights, model.native, { ...settings, kvType: options.kvType, imageRows, images: options.images ?? 2 })
      : await native(() => nativeAddon().Context.create(model.native, settings));
    return new Context(model, nativeContext, options);
  }

  private constructor(model: Model, nativeContext: NativeContext | NativeMllamaContext, options: ContextOptions) {
    const prefixCache = options.prefixCache;
    this.model = model;
    this.#native = nativeContext;
    this.info = nativeContext.info();
    this.scheduler = new BatchScheduler(nativeContext, { batchCapacity: this.info.batchSize, runs: options.decodeRuns ?? true });
    this.shareBatches = options.shareBatches ?? true;
    this.#freeIds = Array.from({ length: this.info.sequences }, (_, i) => this.info.sequences - 1 - i);
    const stats = this.scheduler.stats;
    Object.defineProperty(this.stats, "decodeCalls", { get: () => stats.decodeCalls, enumerable: true });
    this.prefixCache = prefixCache ? new PrefixCache(this, prefixCache) : null;
    this.#reservations = new Semaphore(this.info.sequences - (prefixCache ? (prefixCache.sequences ?? 2) : 0));
    const cache = this.prefixCache;
    Object.defineProperty(this.stats, "cachedItems", { get: () => cache?.reusedItems ?? 0, enumerable: true });
  }

  get contextSize(): number {
    return this.info.contextSize;
  }

  get sequenceCount(): number {
    return this.info.sequences;
  }

  /** Sequence ids not in use. */
  get freeSequences(): number {
    return this.#freeIds.length;
  }

  /** KV cells holding a token of some sequence; a prefix shared by forks counts once. */
  get usedCells(): number {
    return this.ledger.used;
  }

  /** The most KV cells in use at once since the context was made or resetPeakCells() was called. */
  get peakUsedCells(): number {
    return this.ledger.peak;
  }

  resetPeakCells(): void {
    this.ledger.resetPeak();
  }

  get freeCells(): number {
    return this.contextSize - this.ledger.used;
  }

  get disposed(): boolean {
    return this.#native === null || this.#disposing !== null;
  }

  applyChatTemplate(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean; template?: string; variables?: Record<string, unknown> }): string {
    return this.model.applyChatTemplate(messages, options);
  }

  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[] {
    return this.model.tokenize(text, options);
  }

  detokenize(tokens: readonly number[]): string {
    return this.model.detokenize(tokens);
  }

  /** An empty sequence. Throws SEQUENCE_LIMIT when all `sequences` ids are in use. */
  createSequence(options: { sampling?: SamplingOptions } = {}): Sequence {
    this.#checkLive();
    const id = this.#takeId();
    try {
      const sampler = createSampler(this.model.native, options.sampling);
      return this.#register(new Sequence(this, id, new SequenceState(sampler)));
    } catch (error) {
      this.#freeIds.push(id);
      throw error;
    }
  }

  /**
   * Reserves `n` of the context's sequences for a search (reason() does this with what its strategy may
   * hold at once), waiting while other searches hold them — so concurrent searches wait their turn
   * instead of failing. Throws SEQUENCE_LIMIT at once if the context can never hold `n`.
   */
  reserveSequences(n: number, signal?: AbortSignal): Promise<() => void> {
    if (n > this.#reservations.capacity) {
      return Promise.reject(
        new SequenceLimitError(
          "SEQUENCE_LIMIT",
          `this search may need ${n} sequences at once but the context has ${this.#reservations.capacity} for searches: ` +
            "create the context with more sequences, or use a smaller width",
        ),
      );
    }
    return this.#reservations.acquire(n, signal);
  }

  /**
   * A new sequence that has evaluated `input` (text, tokens, or text with images). With a prefix cache it
   * forks from the longest cached prefix of the input — an image already evaluated there is not encoded
   * again — and remembers the input for later calls.
   */
  async createSequenceFrom(input: PromptInput, options: AcquireOptions = {}): Promise<Sequence> {
    this.#checkLive();
    if (this.prefixCache) return this.prefixCache.acquire(input, options);
    const sequence = this.createSequence({ sampling: options.sampling });
    try {
      await sequence.evaluate(input, { signal: options.signal, parseSpecial: options.parseSpecial });
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
    return sequence;
  }

  /**
   * Advances all given sequences together, one batch per step, until each meets its own stop rule.
   * A request is a sequence (using `options`) or `{ sequence, ...own options }`.
   */
  generate(requests: readonly (Sequence | GenerationRequest)[], options: GenerateOptions = {}): Generation {
    this.#checkLive();
    const { signal, ...shared } = options;
    const normalized = requests.map((r) => (r instanceof Sequence ? { ...shared, sequence: r } : { ...shared, ...r }));
    return new Generation(this, normalized, signal);
  }

  /** Waits for running work, frees every sequence and the native context. */
  dispose(): Promise<void> {
    if (!this.#disposing) {
      // Requests in flight end with DISPOSED at their next step (the running decode is cancelled).
      this.scheduler.close(new DisposedError("DISPOSED", "the context was disposed while this request ran"));
      this.#disposing = (async () => {
        await this.scheduler.drained();
        for (const sequence of this.#sequences) sequence.state.dispose();
        this.#sequences.clear();
        this.#native?.dispose();
        this.#native = null;
        for (const callback of this.#onDispose) callback();
      })();
    }
    return this.#disposing;
  }

  /** @internal */
  onDispose(callback: () => void): void {
    this.#onDispose.push(callback);
  }

  /** @internal */
  checkTokens(tokens: readonly number[]): void {
    const vocab = this.model.vocabSize;
    for (const token of tokens) {
      if (!Number.isInteger(token) || token < 0 || token >= vocab) {
        throw createError("INVALID_TOKEN", `token id ${token} is out of range: the vocabulary has ${vocab} tokens`);
      }
    }
  }

  /** @internal Decodes tokens at the sequence's next positions; outputs only for the last when asked. */
  async decodeTokens(
    sequence: Sequence,
    tokens: readonly number[],
    options: { signal?: AbortSignal; topK?: number; probes?: readonly number[]; wantLast: boolean },
  ): Promise<DecodeOutput[]> {
    if (options.probes) this.checkTokens(options.probes);
    const start = sequence.state.nPast;
    const positions = tokens.map((_, i) => start + i);
    const outputs = await this.scheduler.decode(
      tokens.map((token, i) => ({
        token,
        position: positions[i]!,
        seqId: sequence.id,
        output: options.wantLast && i === tokens.length - 1,
        sampler: null,
      })),
      { signal: options.signal, topK: options.topK, probes: options.probes },
    );
    this.ledger.add(sequence.id, positions);
    return outputs;
  }

  /** @internal Removes the sequence's cells from position `from` on (a failed evaluation's partial work). */
  async truncate(sequence: Sequence, from: number): Promise<void> {
    await this.scheduler.exclusive(() => {
      this.#nativeOrThrow().seqRemove(sequence.id, from, -1);
      this.ledger.remove(sequence.id, from);
    });
  }

  /** @internal Makes the last token pending again (after an evaluate that read logprobs). */
  async restorePending(sequence: Sequence): Promise<void> {
    const state = sequence.state;
    if (state.pending !== null) return;
    if (state.endsWithMedia) {
      throw new InvalidArgumentError(
        "INVALID_ARGUMENT",
        `sequence ${sequence.id} ends with an image: evaluate the text that follows it (e.g. the chat template's assistant prefix) before generating`,
      );
    }
    if (state.tokens.length === 0) {
      throw new InvalidArgumentError("INVALID_ARGUMENT", `sequence ${sequence.id} is empty: evaluate a prompt before generating`);
    }
    const last = state.nPast - 1;
    await this.scheduler.exclusive(() => {
      if (!this.#nativeOrThrow().seqRemove(sequence.id, last, -1)) {
        throw new StagebeamError("INTERNAL", "this model's memory cannot remove the last token of a sequence");
      }
      this.ledger.remove(sequence.id, last);
    });
    state.reopenLast();
  }

  /**
   * @internal Encodes image chunk `index` and decodes it into the sequence: the pending text token goes
   * in first, then the image's embeddings at the next positions.
   */
  async evaluateImage(sequence: Sequence, chunks: NativeChunks, index: number, cells: number, signal?: AbortSignal): Promise<void> {
    const state = sequence.state;
    if (state.pending !== null) {
      await this.decodeTokens(sequence, [state.pending], { signal, wantLast: false });
      state.writePending();
      this.stats.promptTokens += 1;
    }
    const start = state.nPast;
    let evaluate: (cancellation: NativeCancellation) => Promise<number>;
    if (chunks instanceof MllamaChunks) {
      // The vision encoder does not touch the context: it runs outside its queue, so other sequences'
      // steps go on meanwhile. Only storing the states and decoding <|image|> waits its turn.
      const image = await chunks.encode(index, signal);
      evaluate = (cancellation) => (this.#nativeOrThrow() as NativeMllamaContext).evalImage(image, sequence.id, start, cancellation);
    } else {
      evaluate = (cancellation) => (this.#nativeOrThrow() as NativeContext).evalImage(chunks, index, sequence.id, start, cancellation);
    }
    const nPast = await withCancellation(signal, (cancellation) => this.scheduler.exclusive(() => native(() => evaluate(cancellation))));
    // The cache keys cells by their first position: consecutive for a plain image; for M-RoPE every
    // image token's first (temporal) position is the image's start.
    const mrope = this.model.projector?.info.mrope ?? false;
    this.ledger.add(sequence.id, Array.from({ length: cells }, (_, i) => (mrope ? start : start + i)));
    state.appendImage(nPast);
    this.stats.imageEncodes += 1;
  }

  /** @internal */
  async forkSequence(parent: Sequence): Promise<Sequence> {
    this.#checkLive();
    const id = this.#takeId();
    try {
      await this.scheduler.exclusive(() => this.#copyCells(parent.id, id));
    } catch (error) {
      this.#freeIds.push(id);
      throw error;
    }
    return this.#register(new Sequence(this, id, parent.state.fork()));
  }

  /**
   * @internal A fork of `parent` as it is at this call, without waiting for it: the state is copied now
   * and the cell copy runs at the next gap between steps, ahead of everything queued (so it splits no
   * step), which is before anything the caller queues next on `parent`: the caller goes on with `parent`
   * at once. `parent` must have no operation queued or running. When the copy's turn comes, `into()`
   * says where it goes: "new" for a free id, a sequence of the caller's own (idle, nobody else's) to
   * clear and reuse — its id then passes to the fork without ever being free, so nobody else can take it
   * meanwhile — or null to skip. Resolves with the fork, or null when skipped or no id was free.
   */
  forkInBackground(parent: Sequence, into: () => Sequence | "new" | null, onFork?: (fork: Sequence) => void): Promise<Sequence | null> {
    let state: SequenceState;
    try {
      this.#checkLive();
      parent.checkLive();
      state = parent.state.fork();
    } catch (error) {
      return Promise.reject(error);
    }
    // Ahead of the steps queued: the prompt's evaluation is over, so no queued job touches `parent`.
    // `onFork` runs in the same turn, so that a caller can record the fork before the next copy's `into()`.
    const copied = this.scheduler.beforeNextStep(() => {
      const target = into();
      if (target === null) return null;
      let id: number;
      if (target === "new") {
        const free = this.#freeIds.pop();
        if (free === undefined) return null;
        id = free;
      } else {
        id = target.id;
        target.abandon();
        this.#sequences.delete(target);
        this.#removeCells(id);
      }
      try {
        this.#copyCells(parent.id, id);
      } catch (error) {
        this.#removeCells(id);
        this.#freeIds.push(id);
        throw error;
      }
      const fork = this.#register(new Sequence(this, id, state));
      onFork?.(fork);
      return fork;
    });
    return copied.then(
      (fork) => {
        if (fork === null) state.dispose();
        return fork;
      },
      (error: unknown) => {
        state.dispose();
        throw error;
      },
    );
  }

  /** @internal */
  async releaseSequence(sequence: Sequence): Promise<void> {
    if (!this.#sequences.delete(sequence)) return;
    sequence.state.dispose();
    // A disposing context frees all its cells at once: nothing to remove one sequence at a time.
    if (this.disposed) return;
    await this.scheduler.exclusive(() => this.#removeCells(sequence.id));
    this.#freeIds.push(sequence.id);
  }

  /** Tags every cell of sequence `from` with `to` as well (a fork shares cells, it does not copy them). */
  #copyCells(from: number, to: number): void {
    this.#nativeOrThrow().seqCopy(from, to, -1, -1);
    this.ledger.copy(from, to);
  }

  /** Frees sequence `id`'s cells (those no other sequence shares). */
  #removeCells(id: number): void {
    this.#native?.seqRemove(id, -1, -1);
    this.ledger.remove(id);
  }

  #register(sequence: Sequence): Sequence {
    this.#sequences.add(sequence);
    return sequence;
  }

  #takeId(): number {
    const id = this.#freeIds.pop();
    if (id === undefined) {
      throw new SequenceLimitError(
        "SEQUENCE_LIMIT",
        `all ${this.info.sequences} sequences of this context are in use: dispose some, or create the context with more sequences`,
      );
    }
    return id;
  }

  #nativeOrThrow(): NativeContextBase {
    if (!this.#native) throw new DisposedError("DISPOSED", "the context has been disposed");
    return this.#native;
  }

  #checkLive(): void {
    if (this.disposed) throw new DisposedError("DISPOSED", "the context has been disposed");
  }
}
