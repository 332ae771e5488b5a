// Loads the compiled addon (prebuilds/<platform>-<arch>/ or build/Release/, via node-gyp-build) and
// registers ggml's backends from the addon's own folder, where the CPU-variant libraries sit.
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nativeSync, StagebeamError } from "./errors.js";

export interface NativeModel {
  metadata(): NativeModelMetadata;
  /** pieceBytes: the length long SPM texts are tokenized in pieces of (native/spm_split_points.h); tests only. */
  tokenize(text: string, addSpecial: boolean, parseSpecial: boolean, pieceBytes?: number): Int32Array;
  detokenize(tokens: Int32Array, removeSpecial: boolean, unparseSpecial: boolean): string;
  tokenPiece(token: number, special: boolean): Uint8Array;
  isEog(token: number): boolean;
  applyChatTemplate(template: string | null, messages: { role: string; content: string }[], addAssistant: boolean): string | null;
  dispose(): void;
}

export interface NativeModelMetadata {
  architecture: string;
  name: string;
  description: string;
  parameterCount: number;
  sizeBytes: number;
  contextLength: number;
  embeddingSize: number;
  layerCount: number;
  headCount: number;
  kvHeadCount: number;
  slidingWindow: number;
  vocabSize: number;
  ropeType: number;
  hasEncoder: boolean;
  isRecurrent: boolean;
  isHybrid: boolean;
  chatTemplate: string | null;
  specialTokens: Record<"bos" | "eos" | "eot" | "sep" | "nl" | "pad", number | null>;
  addBos: boolean;
  addEos: boolean;
  meta: Record<string, string>;
}

export interface NativeContextInfo {
  contextSize: number;
  sequences: number;
  batchSize: number;
  ubatchSize: number;
  threads: number;
  threadsBatch: number;
  canShift: boolean;
  /** mllama contexts: bytes of what the context allocates besides the weights (all at creation). */
  memory?: NativeContextMemory;
}

export interface NativeContextMemory {
  /** The self-attention K/V cache, every cell. */
  kvBytes: number;
  /** The cross-attention store: every image slot's K/V rows in every cross-attention block. */
  crossBytes: number;
  crossBytesPerImage: number;
  /** Compute buffers reserved for the largest ubatch. */
  computeBytes: number;
}

export interface NativeDecodeRequest {
  tokens: Int32Array;
  positions: Int32Array;
  seqIds: Int32Array;
  outputs: Uint8Array;
  samplers: (NativeSampler | null)[];
  /**
   * One per output: 1 reads its distribution (the log-softmax over the vocabulary: the sampled token's
   * logprob, the top-k, the probes), 0 skips that pass. Default: every output when topK or probes are
   * asked, none otherwise.
   */
  logprobs?: Uint8Array;
  topK: number;
  probes?: Int32Array;
  /** Parity tests only: return every output's whole logit row. */
  returnLogits?: boolean;
}

export interface NativeDecodeResult {
  tokens: Int32Array;
  /** The sampled token's logprob; NaN for an output without a sampler or not marked in request.logprobs. */
  logprobs: Float32Array;
  /** topK per output; -1 (and -Infinity in topLogprobs, probeLogprobs) for an output not marked in request.logprobs. */
  topTokens: Int32Array;
  topLogprobs: Float32Array;
  probeLogprobs: Float32Array;
  /** Milliseconds in the forward pass (llama_decode and its synchronisation; mllama's graph) and in reading the outputs. */
  timing: { forwardMs: number; readMs: number };
  /** With returnLogits: one row of vocabulary size per output. */
  logits?: Float32Array;
}

/** One step of a decode run: the sequences that took it, their sampled tokens and logprobs (NaN unless asked). */
export interface NativeRunStep {
  step: number;
  seqIds: Int32Array;
  tokens: Int32Array;
  logprobs: Float32Array;
  timing: { forwardMs: number; readMs: number };
}

/** A decode run's totals: steps reported, forward passes made, and the rows decoded for nothing (stopped by a verdict). */
export interface NativeRunSummary {
  steps: number;
  forwards: number;
  discardedRows: number;
  discardedForwardMs: number;
}

/** A decode run in progress (native/decode_run.h). */
export interface NativeDecodeRun {
  done: Promise<NativeRunSummary>;
  /** The sequences that go on after `step` (the others stop there); with yieldAfter, end after the next step. */
  verdict(step: number, seqIds: Int32Array, yieldAfter: boolean): void;
  /** Stop waiting for a verdict: drop the rows decoded ahead and end (the consumer waits for queued work). */
  stopWaiting(): void;
  /** Forward passes started so far (a step is reported after its pass ends). */
  forwardsStarted(): number;
}

/** What both engines' native contexts share: memory operations and batched decodes. */
export interface NativeContextBase {
  info(): NativeContextInfo;
  seqCopy(src: number, dst: number, p0?: number, p1?: number): void;
  seqRemove(seq: number, p0?: number, p1?: number): boolean;
  seqPosMin(seq: number): number;
  seqPosMax(seq: number): number;
  clear(): void;
  decode(request: NativeDecodeRequest, cancellation?: NativeCancellation): Promise<NativeDecodeResult>;
  /**
   * Lockstep generation for many steps in one native call (llama.cpp engine only): one sampled output
   * per sequence; onStep reports each step, and each step needs a verdict.
   */
  decodeRun?(
    request: NativeDecodeRequest,
    limits: { budgets: Int32Array; stopAtEog: Uint8Array },
    onStep: (step: NativeRunStep) => void,
    cancellation?: NativeCancellation,
  ): NativeDecodeRun;
  dispose(): void;
}

/** A llama.cpp context. */
export interface NativeContext extends NativeContextBase {
  /** Encodes image chunk `index` and decodes it into `seqId` at `nPast`; resolves with the new nPast. */
  evalImage(chunks: NativeChunks, index: number, seqId: number, nPast: number, cancellation?: NativeCancellation): Promise<number>;
}

/** An image for the mllama engine: its vision states after the projector, and which rows text may see. */
export interface NativeMllamaImage {
  /** rows × n_embd floats: every tile's tokens, padded tiles included. */
  states: Float32Array;
  /** The image's content id: a slot holding the same id is reused instead of recomputed. */
  id: string;
  /** Rows of the real tiles (the rest are padding text never sees). */
  realRows: number;
}

/** An mllama context (the addon's own engine). */
export interface NativeMllamaContext extends NativeContextBase {
  /** Stores the image's cross K/V (once per image), binds `seqId` to it and decodes <|image|> at `nPast`. */
  evalImage(image: NativeMllamaImage, seqId: number, nPast: number, cancellation?: NativeCancellation): Promise<number>;
}

export interface NativeSampler {
  clone(): NativeSampler;
  accept(tokens: Int32Array): void;
  reset(): void;
  dispose(): void;
}

export interface NativeProjectorInfo {
  vision: boolean;
  audio: boolean;
  mrope: boolean;
  nonCausal: boolean;
  marker: string;
  embeddingSize: number;
}

export interface NativeImage {
  readonly width: number;
  readonly height: number;
  id: string;
  pixels(): Uint8Array;
}

export type NativeChunk =
  | { type: "text"; tokens: Int32Array }
  | { type: "image" | "audio"; id: string; tokens: number; positions: number };

export interface NativeChunks {
  describe(): NativeChunk[];
}

export interface NativeProjector {
  info(): NativeProjectorInfo;
  decodeImage(bytes: Uint8Array): Promise<NativeImage>;
  imageFromRgb(width: number, height: number, rgb: Uint8Array): NativeImage;
  tokenize(text: string, images: NativeImage[], addSpecial: boolean, parseSpecial: boolean): Promise<NativeChunks>;
  dispose(): void;
}

export interface NativeCancellation {
  cancel(): void;
  readonly cancelled: boolean;
}

export interface NativeDevice {
  name: string;
  description: string;
  type: "cpu" | "gpu" | "igpu" | "accel";
}

/** The mllama engine's weights (the addon's own ggml implementation; llama.cpp has no mllama). */
export interface NativeMllamaModel {
  metadata(): NativeMllamaMetadata;
  dispose(): void;
}

export interface NativeMllamaMetadata {
  architecture: "mllama";
  name: string;
  parameterCount: number;
  sizeBytes: number;
  contextLength: number;
  embeddingSize: number;
  layerCount: number;
  headCount: number;
  kvHeadCount: number;
  /** Rows of the output head; the tokenizer has one token more (<|image|>), never sampled. */
  outputVocabSize: number;
  embeddingRows: number;
  crossAttentionLayers: number[];
  /** The device the offloaded blocks run on, or "CPU". */
  device: string;
  meta: Record<string, string>;
}

/** Facts of an mllama vision projector, for preprocessing and for the decoder's cross-attention store. */
export interface NativeMllamaVisionInfo {
  /** Tile side in pixels (560). */
  imageSize: number;
  patchSize: number;
  maxTiles: number;
  /** Patches + the class token (1601): rows of states per tile. */
  tokensPerTile: number;
  /** Width of a state row: the text model's hidden size. */
  projectionDim: number;
  /** [h_tiles, w_tiles] pairs, flattened; aspect-ratio id = pair index + 1. */
  supportedAspectRatios: Int32Array;
  imageMean: Float32Array;
  imageStd: Float32Array;
  /** The converter's pairing key, shared with the text model; null if the file has none. */
  pairId: string | null;
  name: string;
  parameterCount: number;
  sizeBytes: number;
  /** The weights as held in memory: more than sizeBytes when F16 weights were widened to F32. */
  weightsBytes: number;
  /** The device the weights live on, or "CPU". */
  device: string;
  threads: number;
  flashAttention: boolean;
  /** Query rows per chunk of the softmax attention (unused with flash attention). */
  attentionChunk: number;
  /** Compute buffer bytes reserved at load, by backend name (the attention matrices dominate). */
  computeBufferBytes: Record<string, number>;
}

/** The mllama vision encoder + projector (the addon's own ggml implementation). */
export interface NativeMllamaVision {
  info(): NativeMllamaVisionInfo;
  /**
   * Cross-attention states of one preprocessed image: `pixels` is [maxTiles, 3, imageSize, imageSize]
   * (padded tiles exact zeros), `aspectRatioId` 1..ratios, `realTiles` 1..maxTiles. Resolves with
   * [maxTiles * tokensPerTile, projectionDim] row-major, padded tiles included. One encode at a time.
   * `debug` is for tests only.
   */
  encode(
    pixels: Float32Array,
    aspectRatioId: number,
    realTiles: number,
    cancellation?: NativeCancellation,
    debug?: { paddingMask?: boolean },
  ): Promise<Float32Array>;
  dispose(): void;
}

export interface NativeAddon {
  Model: {
    load(
      path: string,
      /** vocabularyOnlyAs: load only the tokenizer of a file whose architecture llama.cpp lacks, read as this one's. */
      /** rpc: rpc-server endpoints ("host:port") that already answered lib/rpc/handshake.ts's probe. */
      options: { gpuLayers?: number; useMmap?: boolean; vocabularyOnlyAs?: string; rpc?: string[] },
      onProgress?: (progress: number) => void,
      cancellation?: NativeCancellation,
    ): Promise<NativeModel>;
  };
  Context: { create(model: NativeModel, options: Record<string, unknown>): Promise<NativeContext> };
  Sampler: new (model: NativeModel, options: Record<string, unknown>) => NativeSampler;
  MllamaModel: {
    load(
      path: string,
      options: { gpuLayers?: number },
      onProgress?: (progress: number) => void,
      cancellation?: NativeCancellation,
    ): Promise<NativeMllamaModel>;
  };
  /** A context with the NativeContext shape over the mllama engine; `vocabulary` is the model's tokenizer. */
  MllamaContext: { create(model: NativeMllamaModel, vocabulary: NativeModel, options: Record<string, unknown>): Promise<NativeMllamaContext> };
  MllamaVision: {
    load(
      path: string,
      /** gpu: put the weights on the first GPU when there is one (default true); flashAttention: F16 K/V
       *  flash attention instead of chunked F32 softmax attention (default false); widenWeights: hold
       *  F16/BF16 matmul weights as F32 (default false); attentionChunk: query rows per softmax chunk, a
       *  divisor of tiles × padded positions (default 0: the largest keeping scores within 256 MiB). */
      options: { gpu?: boolean; threads?: number; flashAttention?: boolean; widenWeights?: boolean; attentionChunk?: number },
      onProgress?: (progress: number) => void,
      cancellation?: NativeCancellation,
    ): Promise<NativeMllamaVision>;
  };
  /** Images without a libmtmd projector (engines that preprocess images themselves). */
  Image: { decode(bytes: Uint8Array): Promise<NativeImage>; fromRgb(width: number, height: number, rgb: Uint8Array): NativeImage };
  Cancellation: new () => NativeCancellation;
  Projector: {
    load(
      model: NativeModel,
      path: string,
      options: { useGpu?: boolean; threads?: number },
      cancellation?: NativeCancellation,
      onProgress?: (progress: number) => void,
    ): Promise<NativeProjector>;
  };
  loadBackends(dir: string): NativeDevice[];
  quantize(input: string, output: string, options: { type?: string; threads?: number }): Promise<void>;
  /** Decodes jpg/png/bmp/gif keeping alpha: RGBA when the image has an alpha channel, else RGB. */
  decodeImageChannels(bytes: Uint8Array): Promise<{ width: number; height: number; data: Uint8Array }>;
  /** ggml's own encoding of rows of `rowLength` values (f16, bf16, q8_0, q4_0, q4_k, q6_k). */
  encodeRows(type: string, values: Float32Array, rowLength: number): Uint8Array;
  systemInfo(): string;
  /** The template names llama.cpp's built-in chat renderer knows ("chatml", "llama3", …). */
  chatTemplateNames(): string[];
  maxSequences(): number;
  /** Live native handles of each kind (native/handle_counts.h). */
  handleCounts(): NativeHandleCounts;
  /** What each ggml device reports of its memory now, in bytes (the CPU device: physical memory, as both). */
  deviceMemory(): NativeDeviceMemory[];
  /** The RPC protocol version of this build's ggml (ggml-rpc.h), which rpc-servers must speak. */
  rpcProtocol(): { major: number; minor: number; patch: number };
}

export interface NativeHandleCounts {
  models: number;
  contexts: number;
  /** One per sequence (its sampler), and one per sampler a generation clones. */
  samplers: number;
  projectors: number;
  images: number;
  chunks: number;
  mllamaModels: number;
  mllamaContexts: number;
  mllamaVisions: number;
}

export interface NativeDeviceMemory {
  name: string;
  type: "cpu" | "gpu" | "igpu" | "accel";
  free: number;
  total: number;
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..");
let addon: NativeAddon | undefined;
let devices: NativeDevice[] = [];
let addonDir = "";

/** The addon, loaded on first use. */
export function nativeAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require("node-gyp-build") as { (dir: string): unknown; path(dir: string): string };
  let path: string;
  try {
    path = nodeGypBuild.path(packageRoot);
  } catch (error) {
    throw new StagebeamError(
      "NATIVE_ADDON_MISSING",
      "the stagebeam native addon is not built for this platform: run `npm install` (or `npm run build`) in the package folder",
      { cause: error },
    );
  }
  let loaded: NativeAddon;
  try {
    loaded = require(path) as NativeAddon;
  } catch (error) {
    throw new StagebeamError(
      "NATIVE_ADDON_MISSING",
      `the stagebeam native addon at ${path} could not be loaded (${(error as Error).message}): rebuild it with \`npm run build:native\``,
      { cause: error },
    );
  }
  devices = nativeSync(() => loaded.loadBackends(dirname(path)));
  addonDir = dirname(path);
  addon = loaded;
  return loaded;
}

/** The folder the addon was loaded from, where llama.cpp's libraries and rpc-server sit beside it. */
export function addonDirectory(): string {
  nativeAddon();
  return addonDir;
}

/** The compute devices ggml registered (CPU always; GPUs when the build has their backend). */
export function backendDevices(): NativeDevice[] {
  nativeAddon();
  return devices;
}
