// The engine boundary: what the search layer (lib/reasoning) needs from an inference
// engine, and nothing more. The llama.cpp engine (Context, Sequence) implements it; a second engine
// (mllama on ggml) will implement the same interfaces, so search code never knows which one runs it.
// The contract owns its vocabulary (the files next to this one); engines import it from here, never the
// other way round.
import type { ChatMessage } from "./chat-message.js";
import type { EvaluateResult } from "./evaluation.js";
import type { GenerationEvent, GenerationResult, GenerateOptions } from "./generation-types.js";
import type { PromptInput } from "./prompt-input.js";
import type { SamplingOptions } from "./sampling-options.js";

export interface EngineEvaluateOptions {
  signal?: AbortSignal;
  /** Read the distribution after the input: top-k and the logprobs of probe tokens. */
  logprobs?: { topK?: number; probes?: readonly number[] };
}

export interface EngineSequence {
  readonly id: number;
  readonly tokens: readonly number[];
  /** Append text, tokens or text with images and evaluate them into the sequence's cache. */
  evaluate(input: PromptInput, options?: EngineEvaluateOptions): Promise<EvaluateResult>;
  /** A sequence sharing this one's cached prefix, with a clone of its sampler. */
  fork(): Promise<EngineSequence>;
  setSampling(options: SamplingOptions): void;
  dispose(): Promise<void>;
}

export interface EngineGenerationRequest<S extends EngineSequence = EngineSequence> extends Omit<GenerateOptions, "signal"> {
  sequence: S;
}

export interface EngineGeneration<S extends EngineSequence = EngineSequence> extends AsyncIterable<GenerationEvent<S>> {
  result(): Promise<GenerationResult<S>[]>;
}

/** An engine's context; S is its own sequence type (a context only generates its own sequences). */
export interface EngineContext<S extends EngineSequence = EngineSequence> {
  createSequence(options?: { sampling?: SamplingOptions }): S;
  /** A sequence that has evaluated `input` (text, tokens, or text with images), from a cached prefix when there is one. */
  createSequenceFrom(input: PromptInput, options?: { sampling?: SamplingOptions; signal?: AbortSignal; remember?: boolean }): Promise<S>;
  /** Renders chat messages with the model's template, or `template` (images become media markers). */
  applyChatTemplate(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean; template?: string }): string;
  /** All requests advance in one batch per step. */
  generate(requests: readonly (S | EngineGenerationRequest<S>)[], options?: GenerateOptions): EngineGeneration<S>;
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
  detokenize(tokens: readonly number[]): string;
  readonly stats: { promptTokens: number; generatedTokens: number; decodeCalls: number; imageEncodes: number; cachedItems: number };
  readonly freeCells: number;
  readonly freeSequences: number;
  /**
   * Optional: false when searches on this context must not share batch steps, so that a result never
   * depends on what else ran; model.reason() then runs them in turn (lib/reasoning/search-turns.ts).
   */
  readonly shareBatches?: boolean;
  /**
   * Optional: reserve `n` sequences for a search, waiting while other searches hold them. Resolves with a
   * release function; rejects at once if `n` can never be available.
   */
  reserveSequences?(n: number, signal?: AbortSignal): Promise<() => void>;
}
