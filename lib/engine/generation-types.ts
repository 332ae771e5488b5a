// Options, events and results of lockstep generation, for any engine. S is the engine's own sequence
// type; the llama.cpp engine's names (lib/generation.ts) default it to its Sequence.
import type { SamplingOptions } from "./sampling-options.js";
import type { TokenLogprob } from "./token-logprob.js";

export interface GenerateOptions {
  /** Most tokens to sample (default 256). */
  maxTokens?: number;
  /** Stop when one of these appears in the newly generated text. */
  stop?: readonly string[];
  /** Keep going through end-of-generation tokens (for fixed-length runs such as benchmarks). */
  ignoreEog?: boolean;
  /**
   * Report the logprob of every sampled token under the model's raw distribution (events' `logprob`,
   * the result's `logprobs`). Off by default: it costs a pass over the whole vocabulary per token.
   */
  logprobs?: boolean;
  /** Report this many top logprobs for every sampled token (implies `logprobs`). */
  topLogprobs?: number;
  /** Replace the sequence's sampler before generating. */
  sampling?: SamplingOptions;
  signal?: AbortSignal;
}

export type StopReason = "eog" | "stop" | "maxTokens" | "contextFull";

export interface GenerationEvent<S> {
  /** Index of the request in the generate() call. */
  index: number;
  sequence: S;
  token: number;
  /** Text this token completed (may be "" mid-character, or for an end-of-generation token). */
  text: string;
  /** Present when the request asked for logprobs (`logprobs`, or `topLogprobs` > 0). */
  logprob?: number;
  top?: TokenLogprob[];
}

export interface GenerationResult<S> {
  sequence: S;
  /** Every sampled token, the end-of-generation token included. */
  tokens: number[];
  /** One per token; present when the request asked for logprobs (`logprobs`, or `topLogprobs` > 0). */
  logprobs?: number[];
  /** Generated text, up to (not including) the stop string. */
  text: string;
  /** Everything the tokens decode to, stop string and anything after it included. */
  rawText: string;
  stopReason: StopReason;
  /** The stop string that ended generation. */
  stop?: string;
}
