// `convertModel`: a Hugging Face mllama checkpoint (Llama 3.2 Vision and fine-tunes such as LLaVA-CoT) →
// two GGUF files, the text model and the vision projector, in stagebeam's mllama layout (gguf-layout.ts).
// Everything is checked before anything is written: config.json, the tokenizer, the preprocessor values
// and every tensor's shape against the config. Tensors are then streamed in row chunks into both files
// under temporary names, which are renamed together at the end; a failure or abort leaves neither.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { AbortError, createError, type StagebeamError } from "../errors.js";
import type { GgufValue } from "../gguf/types.js";
import { gguf, ggufFileSize, stageGgufAsync, type GgufTensor, type StagedGguf } from "../gguf/writer.js";
import { EMBEDDING_EXTRA_ROWS, storedType, textKv, textLayout, visionKv, visionLayout, type ImageNormalization, type LayoutTensor, type MllamaWeightType } from "./gguf-layout.js";
import { readMllamaConfig, type MllamaHparams } from "./hf-config.js";
import { readChatTemplate } from "./hf-chat-template.js";
import { llama3RopeFactors } from "./rope-freqs.js";
import { permuteHeadsForRope } from "./rope-permute.js";
import { SafetensorsCheckpoint } from "./safetensors.js";
import { readTokenizerVocabulary, vocabularyKv, type GgufVocabulary } from "./tokenizer-json.js";

export type { MllamaWeightType } from "./gguf-layout.js";

export interface ConvertModelOptions {
  /** The Hugging Face checkpoint folder: config.json, tokenizer.json, *.safetensors, … */
  input: string;
  /** The text model GGUF to write. */
  output: string;
  /** The vision projector GGUF to write. */
  projectorOutput: string;
  /** Storage of the text model's 2-D weights; Q8_0 falls back to F16 for rows that are not a multiple of 32. */
  type: MllamaWeightType;
  /** Storage of the projector's 2-D weights (default: `type`, except F16 when `type` is q8_0). */
  visionType?: MllamaWeightType;
  /** general.name (default: the checkpoint folder's name). */
  name?: string;
  onProgress?: (progress: { bytesWritten: number; bytesTotal: number }) => void;
  signal?: AbortSignal;
}

export interface ConvertModelResult {
  model: string;
  projector: string;
  /** Bytes written to both files. */
  bytes: number;
  /** The key both files carry to prove they belong together. */
  pairId: string;
}

const WEIGHT_TYPES: readonly MllamaWeightType[] = ["f32", "f16", "q8_0"];
// Tensors up to this many values (norms, biases, gates) are hashed into the pair id: fine-tunes that share
// config.json and shapes still get different ids.
const PAIR_HASH_MAX_VALUES = 1 << 16;

function bad(message: string): StagebeamError {
  return createError("INVALID_CHECKPOINT", message);
}

/** transformers 5 in-memory names → the Hub layout (which save_pretrained writes; Meta's files use it). */
export function hubTensorName(name: string): string {
  if (name.startsWith("model.language_model.")) return `language_model.model.${name.slice("model.language_model.".length)}`;
  if (name === "lm_head.weight") return "language_model.lm_head.weight";
  if (name.startsWith("model.vision_model.")) return name.slice("model.".length);
  if (name.startsWith("model.multi_modal_projector.")) return name.slice("model.".length);
  return name;
}

/** image_mean / image_std from preprocessor_config.json; never the image processor's class defaults (0.5). */
function readNormalization(dir: string, h: MllamaHparams): ImageNormalization {
  const path = join(dir, "preprocessor_config.json");
  if (!existsSync(path)) throw bad(`${dir} has no preprocessor_config.json: it holds the image mean and std the projector needs; copy it from the model's repository`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw createError("INVALID_CHECKPOINT", `${path} is not valid JSON (${(error as Error).message})`, error);
  }
  const triple = (key: string) => {
    const v = json[key];
    if (!Array.isArray(v) || v.length !== h.vision.channels || !v.every((x) => typeof x === "number" && Number.isFinite(x))) {
      throw bad(`${path}: ${key} must be ${h.vision.channels} numbers, got ${JSON.stringify(v)}`);
    }
    return v as number[];
  };
  const mean = triple("image_mean");
  const std = triple("image_std");
  if (std.some((s) => s <= 0)) throw bad(`${path}: image_std must be positive, got ${JSON.stringify(std)}`);
  if (json.max_image_tiles !== undefined && json.max_image_tiles !== h.vision.maxTiles) {
    throw bad(`${path}: max_image_tiles ${JSON.stringify(json.max_image_tiles)} differs from config.json's max_num_tiles ${h.vision.maxTiles}`);
  }
  const size = json.size as { height?: unknown; width?: unknown } | undefined;
  if (size && ((size.height !== undefined && size.height !== h.vision.imageSize) || (size.width !== undefined && size.width !== h.vision.imageSize))) {
    throw bad(`${path}: size ${JSON.stringify(size)} differs from config.json's image_size ${h.vision.imageSize}`);
  }
  return { mean, std };
}

/** The checkpoint's tensors by Hub name. */
function hubNames(checkpoint: SafetensorsCheckpoint): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of checkpoint.tensors.keys()) {
    const hub = hubTensorName(name);
    const other = out.get(hub);
    if (other !== undefined) throw bad(`tensors ${other} and ${name} are the same tensor in two naming schemes`);
    out.set(hub, name);
  }
  return out;
}

/** Checks every layout tensor's source (present, float, shape = reversed dims) and that nothing is left over. */
function checkTensors(checkpoint: SafetensorsCheckpoint, names: Map<string, string>, layouts: LayoutTensor[]): void {
  const used = new Set<string>();
  for (const t of layouts) {
    if (t.source === "rope_freqs") continue;
    const name = names.get(t.source.hf);
    if (name === undefined) throw bad(`tensor ${t.source.hf} is missing from the checkpoint (it becomes ${t.name}); is the download complete?`);
    used.add(name);
    const info = checkpoint.get(name);
    const expected = [...t.dims].reverse();
    if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
      throw bad(`tensor ${name} in ${basename(info.file)} has shape [${info.shape}] but config.json implies [${expected}]: the checkpoint and its config.json disagree`);
    }
    if (!["F32", "F16", "BF16", "F64"].includes(info.dtype)) throw bad(`tensor ${name} in ${basename(info.file)} is ${info.dtype}; only float tensors can be converted`);
  }
  const extra = [...checkpoint.tensors.keys()].filter((n) => !used.has(n));
  if (extra.length > 0) {
    throw bad(`the checkpoint has ${extra.length} tensor(s) that mllama as config.json describes it does not have (${extra.slice(0, 3).join(", ")}${extra.length > 3 ? ", …" : ""}): config.json does not match the weights`);
  }
}

function checkVocabulary(h: MllamaHparams, vocab: GgufVocabulary, embeddingRows: number): void {
  const n = vocab.tokens.length;
  if (n > embeddingRows) throw bad(`the tokenizer has ${n} tokens but embed_tokens only ${embeddingRows} rows`);
  if (n < h.text.vocabSize) throw bad(`the tokenizer has ${n} tokens, fewer than the ${h.text.vocabSize} outputs of lm_head`);
  if (h.imageTokenIndex >= n || vocab.tokens[h.imageTokenIndex] !== "<|image|>") {
    throw bad(`config.json's image_token_index ${h.imageTokenIndex} is ${JSON.stringify(vocab.tokens[h.imageTokenIndex] ?? "outside the vocabulary")}, not <|image|>`);
  }
}

/** Self-attention Q/K rows, permuted head by head for NORM RoPE, streamed a few heads at a time. */
function* ropePermutedRows(checkpoint: SafetensorsCheckpoint, name: string, headDim: number): Generator<Float32Array, void> {
  const rowLength = checkpoint.rowLength(name);
  const heads = checkpoint.rowCount(name) / headDim;
  const perChunk = Math.max(1, Math.floor((16 << 20) / (headDim * rowLength * 4)));
  for (let h = 0; h < heads; h += perChunk) {
    const n = Math.min(perChunk, heads - h);
    yield permuteHeadsForRope(checkpoint.readRows(name, h * headDim, n * headDim), headDim, rowLength);
  }
}

function tensorData(t: LayoutTensor, checkpoint: SafetensorsCheckpoint, names: Map<string, string>, h: MllamaHparams): GgufTensor["data"] {
  if (t.source === "rope_freqs") return () => llama3RopeFactors(h.text.ropeTheta, h.text.headDim, h.text.ropeScaling!);
  const name = names.get(t.source.hf)!;
  switch (t.source.transform) {
    case "copy":
      return () => checkpoint.rows(name);
    case "rope_q":
      return () => ropePermutedRows(checkpoint, name, h.text.headDim);
    case "rope_k":
      return () => ropePermutedRows(checkpoint, name, h.text.headDim);
    case "tanh":
      return () => checkpoint.read(name).map((g) => Math.tanh(g));
    case "one_minus_tanh":
      return () => checkpoint.read(name).map((g) => 1 - Math.fround(Math.tanh(g)));
  }
}

/** SHA-256 of config.json's hash and the bytes of every small tensor, in name order. */
function pairIdOf(configSha256: string, checkpoint: SafetensorsCheckpoint): string {
  const hash = createHash("sha256").update(configSha256);
  for (const name of [...checkpoint.tensors.keys()].sort()) {
    const t = checkpoint.get(name);
    if (t.shape.reduce((a, b) => a * b, 1) <= PAIR_HASH_MAX_VALUES) hash.update(name).update(checkpoint.readBytes(name));
  }
  return hash.digest("hex").slice(0, 32);
}

export async function convertModel(options: ConvertModelOptions): Promise<ConvertModelResult> {
  const { signal } = options;
  const throwIfAborted = () => {
    if (signal?.aborted) throw new AbortError("the conversion was aborted", { cause: signal.reason });
  };
  throwIfAborted();
  if (!WEIGHT_TYPES.includes(options.type)) throw createError("INVALID_ARGUMENT", `type must be one of ${WEIGHT_TYPES.join(", ")}, got ${JSON.stringify(options.type)}`);
  const visionType = options.visionType ?? (options.type === "q8_0" ? "f16" : options.type);
  if (!WEIGHT_TYPES.includes(visionType)) throw createError("INVALID_ARGUMENT", `visionType must be one of ${WEIGHT_TYPES.join(", ")}, got ${JSON.stringify(visionType)}`);
  const input = resolve(options.input);
  const output = resolve(options.output);
  const projectorOutput = resolve(options.projectorOutput);
  if (output === projectorOutput) throw createError("INVALID_ARGUMENT", `the model and the projector cannot both be written to ${output}`);
  if (!existsSync(input)) throw createError("MODEL_NOT_FOUND", `${input} does not exist: give the folder of a Hugging Face checkpoint`);
  if (!statSync(input).isDirectory()) throw createError("INVALID_ARGUMENT", `${input} is not a folder: give the folder of a Hugging Face checkpoint (config.json, tokenizer.json, *.safetensors)`);

  const { hparams, sha256 } = readMllamaConfig(input);
  const vocab = readTokenizerVocabulary(input, { bosTokenId: hparams.text.bosTokenId, eosTokenId: hparams.text.eosTokenId, padTokenId: hparams.text.padTokenId });
  checkVocabulary(hparams, vocab, hparams.text.vocabSize + EMBEDDING_EXTRA_ROWS);
  const chatTemplate = readChatTemplate(input);
  const normalization = readNormalization(input, hparams);
  const checkpoint = SafetensorsCheckpoint.open(input);
  const staged: StagedGguf[] = [];
  try {
    const names = hubNames(checkpoint);
    const text = textLayout(hparams.text);
    const vision = visionLayout(hparams.vision, hparams.text.hiddenSize);
    checkTensors(checkpoint, names, [...text, ...vision]);
    const pairId = pairIdOf(sha256, checkpoint);
    const name = options.name ?? basename(input);

    const textMeta = new Map<string, GgufValue>([...textKv(hparams, { name, weightType: options.type, pairId }), ...vocabularyKv(vocab)]);
    if (chatTemplate !== null) textMeta.set("tokenizer.chat_template", gguf.str(chatTemplate));
    const visionMeta = new Map<string, GgufValue>(visionKv(hparams, { name, weightType: visionType, pairId, normalization }));
    const tensors = (layout: LayoutTensor[], type: MllamaWeightType): GgufTensor[] =>
      layout.map((t) => ({ name: t.name, dims: t.dims, type: storedType(t, type), data: tensorData(t, checkpoint, names, hparams) }));
    const textTensors = tensors(text, options.type);
    const visionTensors = tensors(vision, visionType);

    const textBytes = ggufFileSize(textMeta, textTensors);
    const bytesTotal = textBytes + ggufFileSize(visionMeta, visionTensors);
    options.onProgress?.({ bytesWritten: 0, bytesTotal });
    throwIfAborted();
    for (const path of [output, projectorOutput]) mkdirSync(dirname(path), { recursive: true });
    staged.push(await stageGgufAsync(output, textMeta, textTensors, { signal, onProgress: (done) => options.onProgress?.({ bytesWritten: done, bytesTotal }) }));
    staged.push(await stageGgufAsync(projectorOutput, visionMeta, visionTensors, { signal, onProgress: (done) => options.onProgress?.({ bytesWritten: textBytes + done, bytesTotal }) }));
    throwIfAborted();
    staged[0]!.commit();
    try {
      staged[1]!.commit();
    } catch (error) {
      // Half a pair is no pair: take the model back out too.
      rmSync(output, { force: true });
      throw error;
    }
    return { model: output, projector: projectorOutput, bytes: bytesTotal, pairId };
  } catch (error) {
    for (const file of staged) file.discard();
    throw error;
  } finally {
    checkpoint.close();
  }
}
