// Lockstep generation: all given sequences advance together, one batch per step, each with its own stop
// rules (stop strings in newly generated text, end-of-generation tokens, a token budget).
import { throwIfAborted } from "./abort.js";
import type { DecodeItem, DecodeOutput, TokenLogprob } from "./batch-scheduler.js";
import type { Context } from "./context.js";
import type {
  GenerateOptions,
  GenerationEvent as EngineGenerationEvent,
  GenerationResult as EngineGenerationResult,
  StopReason,
} from "./engine/generation-types.js";
import { InvalidArgumentError, StagebeamError } from "./errors.js";
import { lockAll } from "./mutex.js";
import { createSampler } from "./sampling.js";
import { assertDistinct, type Sequence } from "./sequence.js";
import { StopDetector } from "./stop-detector.js";
import { TokenTextDecoder } from "./token-text.js";

// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { GenerateOptions, StopReason };

export interface GenerationRequest extends Omit<GenerateOptions, "signal"> {
  sequence: Sequence;
}

// The contract's event and result, defaulting to this engine's Sequence so that a bare
// `GenerationEvent` / `GenerationResult` still means what it meant to callers.
export type GenerationEvent<S = Sequence> = EngineGenerationEvent<S>;
export type GenerationResult<S = Sequence> = EngineGenerationResult<S>;

interface Live {
  index: number;
  request: Required<Pick<GenerationRequest, "maxTokens" | "ignoreEog" | "topLogprobs">> & GenerationRequest;
  /** The request reads its tokens' logprobs (logprobs, or top logprobs). */
  logprobs: boolean;
  text: TokenTextDecoder;
  stops: StopDetector;
  result: GenerationResult;
  done: boolean;
}

/** An in-progress generate() call: iterate it for tokens as they come, or await result(). */
export class Generation implements AsyncIterable<GenerationEvent> {
  readonly #events: AsyncGenerator<GenerationEvent, GenerationResult[]>;
  #results: GenerationResult[] | null = null;
  #started = false;

  /** @internal */
  constructor(context: Context, requests: GenerationRequest[], signal: AbortSignal | undefined) {
    this.#events = run(context, requests, signal);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationEvent> {
    if (this.#started) throw new InvalidArgumentError("INVALID_ARGUMENT", "a Generation can be iterated once");
    this.#started = true;
    let finished = false;
    try {
      for (;;) {
        const next = await this.#events.next();
        if (next.done) {
          finished = true;
          this.#results = next.value;
          return;
        }
        yield next.value;
      }
    } finally {
      // A consumer that stops early (break, return, a throw in its loop) ends the run here: it releases
      // the sequences' locks and stops the decoding, instead of leaving them held by a suspended loop.
      if (!finished) await this.#events.return(undefined as never);
    }
  }

  /** Runs the generation to the end (if not iterated) and returns one result per request, in order. */
  async result(): Promise<GenerationResult[]> {
    if (!this.#started) {
      for await (const _ of this) {
        // draining
      }
    }
    if (!this.#results) throw new StagebeamError("INTERNAL", "the generation was not run to completion");
    return this.#results;
  }
}

async function* run(
  context: Context,
  requests: GenerationRequest[],
  signal: AbortSignal | undefined,
): AsyncGenerator<GenerationEvent, GenerationResult[]> {
  const sequences = requests.map((r) => r.sequence);
  assertDistinct(sequences);
  for (const request of requests) {
    if (request.sequence.context !== context) {
      throw new InvalidArgumentError("INVALID_ARGUMENT", "a sequence of another context was passed to generate()");
    }
    const maxTokens = request.maxTokens ?? 256;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new InvalidArgumentError("INVALID_ARGUMENT", `maxTokens must be a non-negative integer, got ${String(request.maxTokens)}`);
    }
    if (request.topLogprobs !== undefined && !(Number.isSafeInteger(request.topLogprobs) && request.topLogprobs >= 0)) {
      throw new InvalidArgumentError("INVALID_ARGUMENT", `topLogprobs must be a non-negative integer, got ${String(request.topLogprobs)}`);
    }
    if (request.stop !== undefined && !(Array.isArray(request.stop) && request.stop.every((s) => typeof s === "string"))) {
      throw new InvalidArgumentError("INVALID_ARGUMENT", "stop must be an array of strings");
    }
    if (request.logprobs !== undefined && typeof request.logprobs !== "boolean") {
      throw new InvalidArgumentError("INVALID_ARGUMENT", `logprobs must be true or false, got ${String(request.logprobs)}`);
    }
  }

  // Hold every sequence's lock for the whole run (taken in id order, so concurrent calls cannot deadlock).
  const release = await lockAll(sequences.map((s) => ({ key: s.id, mutex: s.lock })));
  const closeGeneration = context.scheduler.openGeneration();
  try {
    throwIfAborted(signal);
    const live: Live[] = [];
    const results: GenerationResult[] = [];
    for (const [index, request] of requests.entries()) {
      const sequence = request.sequence;
      sequence.checkLive();
      if (request.sampling) {
        sequence.state.replaceSampler(createSampler(context.model.native, request.sampling));
      }
      await context.restorePending(sequence);
      const logprobs = request.logprobs === true || (request.topLogprobs ?? 0) > 0;
      const entry: Live = {
        index,
        request: { maxTokens: 256, ignoreEog: false, topLogprobs: 0, ...request },
        logprobs,
        text: new TokenTextDecoder(),
        stops: new StopDetector(request.stop ?? []),
        result: { sequence, tokens: [], ...(logprobs ? { logprobs: [] } : {}), text: "", rawText: "", stopReason: "maxTokens" },
        done: false,
      };
      results.push(entry.result);
      if (entry.request.maxTokens === 0) finish(entry, "maxTokens");
      else live.push(entry);
    }

    let active = live;
    while (active.length > 0) {
      throwIfAborted(signal);
      for (const entry of active) {
        if (!roomForNext(entry)) finish(entry, "contextFull");
      }
      active = active.filter((entry) => !entry.done);
      if (active.length === 0) break;

      const items: DecodeItem[] = active.map((entry) => {
        const state = entry.request.sequence.state;
        return { token: state.pending!, position: state.nPast, seqId: entry.request.sequence.id, output: true, sampler: state.sampler, logprob: entry.logprobs };
      });
      const topK = Math.max(0, ...active.map((entry) => entry.request.topLogprobs));

      if (topK === 0 && context.scheduler.canRun(active.length)) {
        // Alone on the context: many steps in one native call, each answered with which sequences go
        // on — exactly those this loop would decode at its next step.
        const run = context.scheduler.run(
          items.map((item, i) => ({ ...item, budget: active[i]!.request.maxTokens - active[i]!.result.tokens.length, stopAtEog: !active[i]!.request.ignoreEog })),
          { signal },
        );
        try {
          const bySeqId = new Map(active.map((entry) => [entry.request.sequence.id, entry]));
          for (let outputs = await run.next(); outputs; outputs = await run.next()) {
            const stepped = outputs.map((output) => bySeqId.get(output.seqId)!);
            for (const event of advance(stepped, outputs)) yield event;
            const goingOn = signal?.aborted
              ? []
              : stepped.filter((entry) => !entry.done && roomForNext(entry));
            run.verdict(goingOn.map((entry) => entry.request.sequence.id));
          }
        } finally {
          await run.close();
        }
      } else {
        for (const event of advance(active, await context.scheduler.decode(items, { topK, signal }))) yield event;
      }
      active = active.filter((entry) => !entry.done);
    }
    return results;
  } finally {
    closeGeneration();
    release();
  }

  /** The context has a position for this entry's next step (its pending token). */
  function roomForNext(entry: Live): boolean {
    return entry.request.sequence.state.nPast + 1 <= context.contextSize;
  }

  /**
   * Records one step's outputs (output i is entries[i]'s): the decoded pending token's cell, the
   * sampled token as the new pending one, its text and stop rules. Returns the step's events.
   */
  function advance(entries: Live[], outputs: readonly (Pick<DecodeOutput, "token" | "logprob"> & { top?: TokenLogprob[] })[]): GenerationEvent[] {
    const events: GenerationEvent[] = [];
    entries.forEach((entry, i) => {
      const output = outputs[i]!;
      const sequence = entry.request.sequence;
      const token = output.token!;
      // The pending token is now in the cache; the sampled one becomes pending.
      context.ledger.add(sequence.id, [sequence.state.nPast]);
      sequence.state.appendSampled(token);
      context.stats.generatedTokens += 1;
      entry.result.tokens.push(token);
      entry.result.logprobs?.push(output.logprob!);

      const eog = context.model.isEndOfGeneration(token);
      const text = eog && !entry.request.ignoreEog ? "" : entry.text.push(context.model.tokenPiece(token));
      events.push({
        index: entry.index,
        sequence,
        token,
        text,
        ...(entry.logprobs ? { logprob: output.logprob! } : {}),
        top: entry.request.topLogprobs > 0 ? output.top?.slice(0, entry.request.topLogprobs) : undefined,
      });
      if (eog && !entry.request.ignoreEog) return finish(entry, "eog");
      const match = entry.stops.push(text);
      if (match) return finish(entry, "stop", match.stop, match.index);
      if (entry.result.tokens.length >= entry.request.maxTokens) finish(entry, "maxTokens");
    });
    return events;
  }

  function finish(entry: Live, reason: StopReason, stop?: string, stopIndex?: number): void {
    entry.done = true;
    entry.text.end();
    entry.result.rawText = entry.text.text;
    entry.result.text = stopIndex === undefined ? entry.text.text : entry.text.text.slice(0, stopIndex);
    entry.result.stopReason = reason;
    if (stop !== undefined) entry.result.stop = stop;
  }
}
