// The mllama engine (Llama 3.2 Vision: LLaVA-CoT's architecture) as the rest of the library sees it.
//
// llama.cpp has no mllama, so the addon runs the decoder on ggml itself (native/mllama/), while the
// tokenizer and the samplers stay llama.cpp's: the same GGUF loaded a second time with only its
// vocabulary. One Model holds both halves, and its contexts are native contexts with the same shape as
// llama.cpp's, so Context, Sequence, generation, the prefix cache and the search run on either engine.
import { withCancellation } from "../abort.js";
import { createError, native } from "../errors.js";
import { readGgufMetadata } from "../gguf/reader.js";
import { PAIR_ID_KEY } from "./gguf-layout.js";
import {
  nativeAddon,
  type NativeMllamaContext,
  type NativeMllamaMetadata,
  type NativeMllamaModel,
  type NativeModel,
  type NativeModelMetadata,
} from "../native.js";

export const MLLAMA_ARCHITECTURE = "mllama";

/** What a GGUF's header says it is; null fields when the header cannot be read (the native loader then reports why). */
export interface GgufIdentity {
  architecture: string | null;
  /** "projector" for a vision projector file. */
  type: string | null;
  /** The converter's pairing key: a model and its projector from one checkpoint share it. */
  pairId: string | null;
}

export function identify(path: string): GgufIdentity {
  try {
    const kv = readGgufMetadata(path).kv;
    const text = (key: string) => {
      const entry = kv.get(key);
      return entry && typeof entry.value === "string" ? entry.value : null;
    };
    return { architecture: text("general.architecture"), type: text("general.type"), pairId: text(PAIR_ID_KEY) };
  } catch {
    return { architecture: null, type: null, pairId: null };
  }
}

/** Throws INVALID_ARGUMENT when an mllama projector file is given as the model. */
export function checkMllamaModelFile(path: string, identity: GgufIdentity): void {
  if (identity.type === "projector") {
    throw createError("INVALID_ARGUMENT", `${path} is an mllama vision projector, not the text model: pass the text model's GGUF as the model`);
  }
}

export interface MllamaHalves {
  /** llama.cpp's vocabulary of the file: tokenizer, detokenizer, chat template, samplers. */
  vocabulary: NativeModel;
  weights: NativeMllamaModel;
}

export async function loadMllama(
  path: string,
  options: { gpuLayers?: number; onProgress?: (progress: number) => void; signal?: AbortSignal },
): Promise<MllamaHalves> {
  const addon = nativeAddon();
  // llama.cpp picks hparams by architecture; with vocab_only it reads none, so any known name does.
  const vocabulary = await withCancellation(options.signal, (cancellation) =>
    native(() => addon.Model.load(path, { vocabularyOnlyAs: "llama" }, undefined, cancellation)),
  );
  try {
    const weights = await withCancellation(options.signal, (cancellation) =>
      native(() => addon.MllamaModel.load(path, { gpuLayers: options.gpuLayers }, options.onProgress, cancellation)),
    );
    return { vocabulary, weights };
  } catch (error) {
    vocabulary.dispose();
    throw error;
  }
}

/** What Model.metadata reports: the shape from the engine, the vocabulary facts from llama.cpp. */
export function mllamaModelMetadata(vocabulary: NativeModelMetadata, weights: NativeMllamaMetadata): NativeModelMetadata {
  const billions = weights.parameterCount / 1e9;
  return {
    ...vocabulary,
    architecture: weights.architecture,
    name: weights.name,
    description: `mllama ${billions >= 1 ? `${billions.toFixed(1)}B` : `${(weights.parameterCount / 1e6).toFixed(1)}M`} (stagebeam engine, ${weights.device})`,
    parameterCount: weights.parameterCount,
    sizeBytes: weights.sizeBytes,
    contextLength: weights.contextLength,
    embeddingSize: weights.embeddingSize,
    layerCount: weights.layerCount,
    headCount: weights.headCount,
    kvHeadCount: weights.kvHeadCount,
    slidingWindow: 0,
    ropeType: 0,
    hasEncoder: false,
    isRecurrent: false,
    isHybrid: false,
    meta: weights.meta,
  };
}

export function createMllamaContext(
  weights: NativeMllamaModel,
  vocabulary: NativeModel,
  options: Record<string, unknown>,
): Promise<NativeMllamaContext> {
  return native(() => nativeAddon().MllamaContext.create(weights, vocabulary, options));
}
