// Options and result of evaluating input into a sequence (sequence.evaluate()).
import type { TokenLogprob } from "./token-logprob.js";

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
