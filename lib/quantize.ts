// Quantizes a GGUF (F32/F16 → Q8_0, Q4_0, K-quants) with llama.cpp's own quantizer, off the JS thread.
import { resolve } from "node:path";
import { native } from "./errors.js";
import { nativeAddon } from "./native.js";

export type QuantizationType = "f16" | "q8_0" | "q4_0" | "q4_k_m" | "q5_k_m" | "q6_k";

export function quantizeModel(options: { input: string; output: string; type: QuantizationType; threads?: number }): Promise<void> {
  return native(() => nativeAddon().quantize(resolve(options.input), resolve(options.output), { type: options.type, threads: options.threads }));
}
