// Quantizes a GGUF (F32/F16 → Q8_0, Q4_0, K-quants) with llama.cpp's own quantizer, off the JS thread.
// mllama (Llama 3.2 Vision) files, which llama.cpp cannot open, go to stagebeam's own re-quantizer
// (lib/mllama/quantize.ts: f16, q8_0 and q4_k_m, text model or projector).
import { resolve } from "node:path";
import { AbortError, native } from "./errors.js";
import { identify, MLLAMA_ARCHITECTURE } from "./mllama/engine.js";
import { quantizeMllama, type MllamaQuantizationType } from "./mllama/quantize.js";
import { nativeAddon } from "./native.js";

export type QuantizationType = "f16" | "q8_0" | "q4_0" | "q4_k_m" | "q5_k_m" | "q6_k";

export interface QuantizeModelOptions {
  input: string;
  output: string;
  type: QuantizationType;
  /** llama.cpp's quantizer threads (the mllama re-quantizer runs on the JS thread and ignores it). */
  threads?: number;
  /** Aborts an mllama quantization between chunks (no output file is left); llama.cpp's quantizer can
   *  only be stopped before it starts. */
  signal?: AbortSignal;
  /** Bytes of the output written so far (mllama files; llama.cpp's quantizer reports none). */
  onProgress?: (progress: { bytesWritten: number; bytesTotal: number }) => void;
}

export function quantizeModel(options: QuantizeModelOptions): Promise<void> {
  const input = resolve(options.input);
  const output = resolve(options.output);
  if (identify(input).architecture === MLLAMA_ARCHITECTURE) {
    return quantizeMllama({ input, output, type: options.type as MllamaQuantizationType, signal: options.signal, onProgress: options.onProgress });
  }
  if (options.signal?.aborted) return Promise.reject(new AbortError("the quantization was aborted", { cause: options.signal.reason }));
  return native(() => nativeAddon().quantize(input, output, { type: options.type, threads: options.threads }));
}
