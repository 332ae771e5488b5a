// An mllama checkpoint's config.json → the hyperparameters the GGUF layout needs. Reads both layouts:
// transformers 4.x (text_config.rope_theta + rope_scaling, as Meta's and Xkev's files) and 5.x
// (text_config.rope_parameters). Plain sizes missing from the file take MllamaConfig's class defaults (a
// config saved as a diff leaves out exactly those), and every size is then checked against the tensors'
// shapes; RoPE is never defaulted, because the class default (no llama3 scaling) is not the released
// models' (errata a3).
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createError, type StagebeamError } from "../errors.js";

export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalContextLength: number;
}

export interface MllamaTextHparams {
  hiddenSize: number;
  intermediateSize: number;
  /** Self-attention and cross-attention blocks together. */
  blockCount: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  crossAttentionLayers: number[];
  rmsNormEps: number;
  /** Rows of the output head (lm_head); token_embd has vocabSize + 8. */
  vocabSize: number;
  contextLength: number;
  ropeTheta: number;
  /** Present for rope_type "llama3": the factors become rope_freqs.weight. */
  ropeScaling?: Llama3RopeScaling;
  bosTokenId?: number;
  eosTokenId?: number | number[];
  padTokenId?: number;
}

export interface MllamaVisionHparams {
  hiddenSize: number;
  intermediateSize: number;
  /** The local encoder's layers. */
  blockCount: number;
  globalBlockCount: number;
  heads: number;
  imageSize: number;
  patchSize: number;
  maxTiles: number;
  channels: number;
  normEps: number;
  intermediateLayers: number[];
  outputDim: number;
  /** (h_tiles, w_tiles) per aspect-ratio id − 1. */
  aspectRatios: [number, number][];
  /** Positions per tile: patches + the class token. */
  positions: number;
}

export interface MllamaHparams {
  text: MllamaTextHparams;
  vision: MllamaVisionHparams;
  imageTokenIndex: number;
}

function bad(message: string): StagebeamError {
  return createError("INVALID_CHECKPOINT", message);
}

type Json = Record<string, unknown>;

/** A positive integer field, or the class default when absent. */
function int(where: string, obj: Json, key: string, fallback?: number): number {
  const v = obj[key] ?? fallback;
  if (v === undefined) throw bad(`${where} has no ${key}`);
  if (!Number.isSafeInteger(v) || (v as number) < 0) throw bad(`${where}: ${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v as number;
}

function num(where: string, obj: Json, key: string, fallback?: number): number {
  const v = obj[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(`${where}: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function ints(where: string, obj: Json, key: string, fallback?: number[]): number[] {
  const v = obj[key] ?? fallback;
  if (!Array.isArray(v) || !v.every((x) => Number.isSafeInteger(x) && x >= 0)) throw bad(`${where}: ${key} must be a list of non-negative integers, got ${JSON.stringify(v)}`);
  return v as number[];
}

function optionalIds(v: unknown): number | number[] | undefined {
  if (Number.isSafeInteger(v)) return v as number;
  if (Array.isArray(v) && v.length > 0 && v.every((x) => Number.isSafeInteger(x))) return v as number[];
  return undefined;
}

function readRope(where: string, text: Json): { ropeTheta: number; ropeScaling?: Llama3RopeScaling } {
  let params: Json | null | undefined;
  let theta: unknown;
  if (text.rope_parameters !== undefined && text.rope_parameters !== null) {
    params = text.rope_parameters as Json;
    // Models with several attention kinds key their parameters by kind; mllama has one.
    if (typeof params.full_attention === "object" && params.full_attention !== null) params = params.full_attention as Json;
    theta = params.rope_theta ?? text.rope_theta;
  } else if (text.rope_theta !== undefined) {
    theta = text.rope_theta;
    params = text.rope_scaling as Json | null | undefined;
  } else {
    throw bad(`${where} has neither rope_parameters nor rope_theta: refusing to guess (the class default, no llama3 scaling, is not the released models')`);
  }
  if (typeof theta !== "number" || !(theta > 0)) throw bad(`${where}: rope_theta must be a positive number, got ${JSON.stringify(theta)}`);
  const type = params ? (params.rope_type ?? params.type) : "default";
  if (type === "default" || type === undefined) return { ropeTheta: theta };
  if (type !== "llama3") throw createError("UNSUPPORTED_ARCHITECTURE", `${where}: rope_type ${JSON.stringify(type)} is not supported (mllama uses "llama3" or "default")`);
  const p = params as Json;
  const field = (key: string) => {
    const v = p[key];
    if (typeof v !== "number" || !(v > 0)) throw bad(`${where}: the llama3 rope scaling has no valid ${key} (${JSON.stringify(v)})`);
    return v;
  };
  const scaling = {
    factor: field("factor"),
    lowFreqFactor: field("low_freq_factor"),
    highFreqFactor: field("high_freq_factor"),
    originalContextLength: field("original_max_position_embeddings"),
  };
  return { ropeTheta: theta, ropeScaling: scaling };
}

/** HF's get_all_supported_aspect_ratios: (h, w) pairs with h·w ≤ tiles, h in the outer loop. */
export function defaultAspectRatios(maxTiles: number): [number, number][] {
  const out: [number, number][] = [];
  for (let h = 1; h <= maxTiles; h++) for (let w = 1; w <= maxTiles; w++) if (h * w <= maxTiles) out.push([h, w]);
  return out;
}

/** Parses a config.json object; `where` names it in errors. */
export function parseMllamaConfig(config: Json, where = "config.json"): MllamaHparams {
  if (config.model_type !== "mllama") {
    throw createError("UNSUPPORTED_ARCHITECTURE", `${where}: model_type ${JSON.stringify(config.model_type)} is not "mllama"; stagebeam convert handles Llama 3.2 Vision (mllama) checkpoints only`);
  }
  const architectures = config.architectures;
  if (architectures !== undefined && architectures !== null && (!Array.isArray(architectures) || !architectures.includes("MllamaForConditionalGeneration"))) {
    throw createError("UNSUPPORTED_ARCHITECTURE", `${where}: architectures ${JSON.stringify(architectures)} is not MllamaForConditionalGeneration (text and vision); other mllama heads are not supported`);
  }
  const text = config.text_config as Json | undefined;
  const vision = config.vision_config as Json | undefined;
  if (typeof text !== "object" || text === null) throw bad(`${where} has no text_config`);
  if (typeof vision !== "object" || vision === null) throw bad(`${where} has no vision_config`);
  const tw = `${where} text_config`;
  const vw = `${where} vision_config`;

  // Class defaults of MllamaTextConfig / MllamaVisionConfig where a diff-saved config may omit a field.
  const hiddenSize = int(tw, text, "hidden_size", 4096);
  const heads = int(tw, text, "num_attention_heads", 32);
  if (heads === 0 || hiddenSize % heads !== 0) throw bad(`${tw}: hidden_size ${hiddenSize} is not a multiple of num_attention_heads ${heads}`);
  const kvHeads = int(tw, text, "num_key_value_heads", 8);
  if (kvHeads === 0 || heads % kvHeads !== 0) throw bad(`${tw}: num_attention_heads ${heads} is not a multiple of num_key_value_heads ${kvHeads}`);
  const headDim = text.head_dim === undefined || text.head_dim === null ? hiddenSize / heads : int(tw, text, "head_dim");
  if (headDim % 2 !== 0) throw bad(`${tw}: the head size ${headDim} is odd`);
  const blockCount = int(tw, text, "num_hidden_layers", 40);
  const crossAttentionLayers = ints(tw, text, "cross_attention_layers", [3, 8, 13, 18, 23, 28, 33, 38]);
  if (crossAttentionLayers.some((l) => l >= blockCount) || new Set(crossAttentionLayers).size !== crossAttentionLayers.length) {
    throw bad(`${tw}: cross_attention_layers ${JSON.stringify(crossAttentionLayers)} must be distinct layers below num_hidden_layers ${blockCount}`);
  }
  const textHparams: MllamaTextHparams = {
    hiddenSize,
    intermediateSize: int(tw, text, "intermediate_size", 14336),
    blockCount,
    heads,
    kvHeads,
    headDim,
    crossAttentionLayers,
    rmsNormEps: num(tw, text, "rms_norm_eps", 1e-5),
    vocabSize: int(tw, text, "vocab_size", 128256),
    contextLength: int(tw, text, "max_position_embeddings", 131072),
    ...readRope(tw, text),
  };
  const bos = optionalIds(text.bos_token_id ?? config.bos_token_id);
  const eos = optionalIds(text.eos_token_id ?? config.eos_token_id);
  const pad = optionalIds(text.pad_token_id ?? config.pad_token_id);
  if (typeof bos === "number") textHparams.bosTokenId = bos;
  if (eos !== undefined) textHparams.eosTokenId = eos;
  if (typeof pad === "number") textHparams.padTokenId = pad;

  const vHidden = int(vw, vision, "hidden_size", 1280);
  const vHeads = int(vw, vision, "attention_heads", (vision.num_attention_heads as number | undefined) ?? 16);
  if (vHeads === 0 || vHidden % vHeads !== 0) throw bad(`${vw}: hidden_size ${vHidden} is not a multiple of attention_heads ${vHeads}`);
  const imageSize = int(vw, vision, "image_size", 448);
  const patchSize = int(vw, vision, "patch_size", 14);
  if (patchSize === 0 || imageSize % patchSize !== 0) throw bad(`${vw}: image_size ${imageSize} is not a multiple of patch_size ${patchSize}`);
  const maxTiles = int(vw, vision, "max_num_tiles", 4);
  const blocks = int(vw, vision, "num_hidden_layers", 32);
  const intermediateLayers = ints(vw, vision, "intermediate_layers_indices", [3, 7, 15, 23, 30]);
  if (intermediateLayers.some((l) => l >= blocks)) throw bad(`${vw}: intermediate_layers_indices ${JSON.stringify(intermediateLayers)} must be below num_hidden_layers ${blocks}`);
  const ratios = vision.supported_aspect_ratios ?? defaultAspectRatios(maxTiles);
  if (!Array.isArray(ratios) || ratios.length === 0 || !ratios.every((r) => Array.isArray(r) && r.length === 2 && r.every((x) => Number.isSafeInteger(x) && x >= 1) && r[0] * r[1] <= maxTiles)) {
    throw bad(`${vw}: supported_aspect_ratios must be [h, w] pairs with h·w ≤ max_num_tiles, got ${JSON.stringify(ratios)}`);
  }
  const outputDim = int(vw, vision, "vision_output_dim", 7680);
  if (outputDim !== vHidden * (1 + intermediateLayers.length)) {
    throw bad(`${vw}: vision_output_dim ${outputDim} is not hidden_size × (1 + ${intermediateLayers.length} intermediate layers) = ${vHidden * (1 + intermediateLayers.length)}`);
  }
  const visionHparams: MllamaVisionHparams = {
    hiddenSize: vHidden,
    intermediateSize: int(vw, vision, "intermediate_size", 5120),
    blockCount: blocks,
    globalBlockCount: int(vw, vision, "num_global_layers", 8),
    heads: vHeads,
    imageSize,
    patchSize,
    maxTiles,
    channels: int(vw, vision, "num_channels", 3),
    normEps: num(vw, vision, "norm_eps", 1e-5),
    intermediateLayers,
    outputDim,
    aspectRatios: ratios as [number, number][],
    positions: (imageSize / patchSize) ** 2 + 1,
  };
  const imageTokenIndex = int(where, config, "image_token_index", 128256);
  return { text: textHparams, vision: visionHparams, imageTokenIndex };
}

/** Reads `dir`/config.json; also returns its bytes' SHA-256 (part of the pair id). */
export function readMllamaConfig(dir: string): { hparams: MllamaHparams; sha256: string } {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw bad(`${dir} has no config.json: point at a Hugging Face checkpoint folder (config.json, tokenizer.json, *.safetensors)`);
  const bytes = readFileSync(path);
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw createError("INVALID_CHECKPOINT", `${path} is not valid JSON (${(error as Error).message})`, error);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) throw bad(`${path} is not a JSON object`);
  return { hparams: parseMllamaConfig(config as Json, path), sha256: createHash("sha256").update(bytes).digest("hex") };
}
