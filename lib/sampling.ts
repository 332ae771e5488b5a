// A sequence's native sampler chain, built from SamplingOptions (lib/engine/sampling-options.ts).
import type { SamplingOptions } from "./engine/sampling-options.js";
import { nativeSync } from "./errors.js";
import { checkRepetitionBounds } from "./grammar-repetitions.js";
import { nativeAddon, type NativeModel, type NativeSampler } from "./native.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports it from here.
export type { SamplingOptions };

export function createSampler(model: NativeModel, options: SamplingOptions = {}): NativeSampler {
  if (typeof options.grammar === "string") checkRepetitionBounds(options.grammar);
  return nativeSync(() => new (nativeAddon().Sampler)(model, { ...options }));
}
