// A token and its logprob under the model's raw distribution: what an engine reports for the top-k of a
// distribution, for sampled tokens and for evaluations that read the next distribution.
export interface TokenLogprob {
  token: number;
  logprob: number;
}
