// A tiny mllama (Llama 3.2 Vision) pair with seeded random weights, written directly by the GGUF writer
// (no Python, no download): the text model and its vision projector, in exactly the layout the converter
// writes (lib/mllama/gguf-layout.ts), with the real Llama 3 vocabulary (llama.cpp's ggml-vocab-llama-bpe.gguf,
// Llama 3.2 Vision's special-token names, <|image|> appended). For engine tests and the demo: the machinery
// does not depend on trained values.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createError } from "../errors.js";
import { storedType, textKv, textLayout, visionKv, visionLayout, type LayoutTensor, type MllamaWeightType } from "../mllama/gguf-layout.js";
import { defaultAspectRatios, type MllamaHparams } from "../mllama/hf-config.js";
import { llama3RopeFactors } from "../mllama/rope-freqs.js";
import { FIRST_SPECIAL_TOKEN, IMAGE_TOKEN, llama32VisionSpecialTokens } from "../mllama/special-tokens.js";
import { TokenType, vocabularyKv, type GgufVocabulary } from "../mllama/tokenizer-json.js";
import { seededRandom } from "../seeded-random.js";
import { readGgufMetadata } from "./reader.js";
import { GgufType, type GgufValue } from "./types.js";
import { gguf, writeGguf, type GgufTensor } from "./writer.js";

/**
 * A Llama-3.2-Vision-style chat template, reduced to what the model's own does with images and roles:
 * image parts render as <|image|> and drop the system block; without images a system block with the
 * knowledge and today's date comes first (`date_string` fixes the date).
 */
export const LLAMA32_VISION_CHAT_TEMPLATE = `{{- bos_token }}
{%- if not date_string is defined %}{%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}{%- endif %}
{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}{%- else %}{%- set system_message = "" %}{%- endif %}
{%- set image_ns = namespace(has_images=false) %}
{%- for message in messages %}{%- if message['content'] is not string %}{%- for content in message['content'] %}{%- if content['type'] == 'image' %}{%- set image_ns.has_images = true %}{%- endif %}{%- endfor %}{%- endif %}{%- endfor %}
{%- if image_ns.has_images and not system_message == "" %}{{- raise_exception("Prompting with images is incompatible with system messages.") }}{%- endif %}
{%- if not image_ns.has_images %}{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}{{- "Cutting Knowledge Date: December 2023\\n" }}{{- "Today Date: " + date_string + "\\n\\n" }}{{- system_message }}{{- "<|eot_id|>" }}{%- endif %}
{%- for message in messages %}
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}
{%- if message['content'] is string %}{{- message['content'] | trim }}{%- else %}{%- for content in message['content'] %}{%- if content['type'] == 'image' %}{{- '<|image|>' }}{%- elif content['type'] == 'text' %}{{- content['text'] | trim }}{%- endif %}{%- endfor %}{%- endif %}
{{- '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}`;

export interface TinyMllamaOptions {
  /** Folder to write tiny-mllama.gguf and mmproj-tiny-mllama.gguf into (created if missing). */
  dir: string;
  seed?: number;
  /** llama.cpp's ggml-vocab-llama-bpe.gguf (default: the package's assets/ or its llama.cpp/models/). */
  vocabPath?: string;
  /** Storage of the 2-D weights of both files (default f32). */
  type?: MllamaWeightType;
  /** File name stem (default "tiny-mllama"). */
  name?: string;
}

/** The tiny shapes (plan §6.2, the Python fixture's): text 64 wide, 5 blocks with cross layers 1 and 3; vision 32 wide. */
export const TINY_MLLAMA: MllamaHparams = {
  text: {
    hiddenSize: 64,
    intermediateSize: 128,
    blockCount: 5,
    heads: 4,
    kvHeads: 2,
    headDim: 16,
    crossAttentionLayers: [1, 3],
    rmsNormEps: 1e-5,
    vocabSize: 128256,
    contextLength: 2048,
    ropeTheta: 500000,
    // A small original context makes all three llama3 regimes occur at head size 16.
    ropeScaling: { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContextLength: 64 },
    bosTokenId: 128000,
    eosTokenId: [128001, 128008, 128009],
    padTokenId: 128004,
  },
  vision: {
    hiddenSize: 32,
    intermediateSize: 128,
    blockCount: 4,
    globalBlockCount: 2,
    heads: 2,
    imageSize: 28,
    patchSize: 14,
    maxTiles: 4,
    channels: 3,
    normEps: 1e-5,
    intermediateLayers: [1, 3],
    outputDim: 96,
    aspectRatios: defaultAspectRatios(4),
    positions: 5,
  },
  imageTokenIndex: 128256,
};

const CLIP_NORMALIZATION = { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };

function defaultVocabPath(): string {
  const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
  for (const candidate of [join(packageRoot, "assets", "ggml-vocab-llama-bpe.gguf"), join(packageRoot, "llama.cpp", "models", "ggml-vocab-llama-bpe.gguf")]) {
    if (existsSync(candidate)) return candidate;
  }
  throw createError("MODEL_NOT_FOUND", "the tiny mllama's vocabulary (ggml-vocab-llama-bpe.gguf) is missing from this installation: pass vocabPath, or reinstall stagebeam");
}

/** Llama 3's vocabulary from llama.cpp's GGUF, with Llama 3.2 Vision's special names and <|image|> appended. */
function llama32VisionVocabulary(path: string): GgufVocabulary {
  const kv = readGgufMetadata(path).kv;
  const array = (key: string) => {
    const v = kv.get(key);
    if (!v || v.type !== GgufType.ARRAY) throw createError("INVALID_GGUF", `${path} has no ${key}`);
    return v.value;
  };
  const tokens = [...(array("tokenizer.ggml.tokens") as string[])];
  const tokenTypes = [...(array("tokenizer.ggml.token_type") as number[])] as TokenType[];
  if (tokens.length !== FIRST_SPECIAL_TOKEN + 256) throw createError("INVALID_GGUF", `${path} has ${tokens.length} tokens, not Llama 3's 128256`);
  llama32VisionSpecialTokens().forEach((name, i) => {
    tokens[FIRST_SPECIAL_TOKEN + i] = name;
    tokenTypes[FIRST_SPECIAL_TOKEN + i] = TokenType.CONTROL;
  });
  tokens.push(IMAGE_TOKEN);
  tokenTypes.push(TokenType.CONTROL);
  return { tokens, tokenTypes, merges: array("tokenizer.ggml.merges") as string[], bosId: 128000, eosId: 128009, padId: 128004 };
}

/**
 * Seeded values for one layout tensor. Scaled like a trained network's activations: projections keep
 * roughly unit variance (±√(3/fan-in)), and the output head spreads logits over about 2 nats (±0.3 at
 * width 64), so greedy decoding is not stuck on one token; norms near 1 and gates away from 0, so that
 * every path, cross-attention included, changes the output.
 */
function valuesFor(t: LayoutTensor, random: () => number, positionGate: number, h: MllamaHparams): Float32Array {
  const n = t.dims.reduce((a, b) => a * b, 1);
  const uniform = (scale: number, center = 0) => {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = center + (random() * 2 - 1) * scale;
    return out;
  };
  const name = t.name;
  if (name === "rope_freqs.weight") return llama3RopeFactors(h.text.ropeTheta, h.text.headDim, h.text.ropeScaling!);
  if (name === "v.position_embd.gate") return Float32Array.of(1 - Math.tanh(positionGate));
  if (name === "v.tile_position_embd.gate") return Float32Array.of(Math.tanh(positionGate));
  if (name.startsWith("blk.") && name.endsWith("_gate")) return uniform(1); // raw text cross gates
  if (name.startsWith("v.") && name.endsWith("gate")) return uniform(1).map(Math.tanh); // stored tanh'd
  if (name === "token_embd.weight") return uniform(1);
  if (name === "output.weight") return uniform(0.3);
  if (name.includes("norm.weight") || name.endsWith("_ln.weight")) return uniform(0.2, 1);
  if (name.endsWith(".bias")) return uniform(0.1);
  if (name.includes("tile_position_embd")) return uniform(0.1);
  if (name === "v.class_embd" || name === "v.position_embd.weight") return uniform(0.5);
  if (name === "v.patch_embd.weight") return uniform(Math.sqrt(3 / (t.dims[0]! * t.dims[1]! * t.dims[2]!)));
  return uniform(Math.sqrt(3 / t.dims[0]!)); // projections: fan-in is the row length
}

/** Writes the pair; returns the two paths. The same seed gives the same files. */
export function writeTinyMllama(options: TinyMllamaOptions): { model: string; projector: string } {
  const seed = options.seed ?? 1;
  const type = options.type ?? "f32";
  const stem = options.name ?? "tiny-mllama";
  const h = TINY_MLLAMA;
  const vocab = llama32VisionVocabulary(options.vocabPath ?? defaultVocabPath());
  const pairId = createHash("sha256").update(`stagebeam tiny mllama, seed ${seed}`).digest("hex").slice(0, 32);
  const name = `stagebeam tiny mllama (random weights, seed ${seed})`;
  mkdirSync(options.dir, { recursive: true });
  const model = join(options.dir, `${stem}.gguf`);
  const projector = join(options.dir, `mmproj-${stem}.gguf`);

  // One stream per file, drawn in writing order (values are made as each tensor is written).
  const tensors = (layout: LayoutTensor[], random: () => number): GgufTensor[] => {
    const positionGate = random() * 2 - 1;
    return layout.map((t) => ({ name: t.name, dims: t.dims, type: storedType(t, type), data: () => valuesFor(t, random, positionGate, h) }));
  };
  const textMeta = new Map<string, GgufValue>([
    ...textKv(h, { name, weightType: type, pairId }),
    ...vocabularyKv(vocab),
    ["tokenizer.chat_template", gguf.str(LLAMA32_VISION_CHAT_TEMPLATE)],
  ]);
  const visionMeta = new Map<string, GgufValue>(visionKv(h, { name, weightType: type, pairId, normalization: CLIP_NORMALIZATION }));
  // The projector first: a model file present means its projector is too.
  writeGguf(projector, visionMeta, tensors(visionLayout(h.vision, h.text.hiddenSize), seededRandom(seed * 2 + 1)));
  writeGguf(model, textMeta, tensors(textLayout(h.text), seededRandom(seed * 2)));
  return { model, projector };
}
