// Sampling options for one sequence's sampler chain. Defaults are greedy: temperature 0.
export interface SamplingOptions {
  /** 0 (default) samples greedily; otherwise logits are divided by it before the seeded draw. */
  temperature?: number;
  /** Keep the k most likely tokens (0 = off). */
  topK?: number;
  /** Nucleus sampling threshold (1 = off). */
  topP?: number;
  /** Drop tokens below minP × the top token's probability (0 = off). */
  minP?: number;
  repeatPenalty?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** How many recent tokens the penalties look at (default 64; 0 turns penalties off). */
  penaltyLastN?: number;
  /** Seed of the draw; the same seed and prefix give the same tokens. */
  seed?: number;
  /** [token, bias] pairs added to logits; -Infinity forbids a token. */
  logitBias?: [number, number][];
  /** A GBNF grammar every generated string must match. */
  grammar?: string;
  grammarRoot?: string;
}
