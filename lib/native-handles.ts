// How many of the addon's own objects are alive, by kind: what a long-running service (or a test) reads to
// see that requests, contexts and models leave nothing behind once they end.
import { nativeAddon, type NativeHandleCounts } from "./native.js";

export type { NativeHandleCounts };

/**
 * Live native handles: loaded models and projectors, contexts, samplers (one per sequence), decoded
 * images and tokenized prompts, and the mllama engine's models, contexts and vision encoders. A handle
 * lives until nothing can use it: its JS object is disposed (or collected) and no native work holds it.
 */
export function nativeHandleCounts(): NativeHandleCounts {
  return nativeAddon().handleCounts();
}
