// A tiny llama-architecture model with seeded random weights: loads and runs in llama.cpp like a real
// one (same graph, same tokenizer), in milliseconds. Also as `qwen2vl` — the same transformer with
// q/k/v biases and M-RoPE (positions in sections), the text half of Qwen2-VL. Speed and correctness of the plumbing do not depend
// on trained values, so tests and the demo use these instead of downloads.
import { seededRandom } from "../seeded-random.js";
import { readGgufMetadata } from "./reader.js";
import { GgufType, type GgufValue } from "./types.js";
import { gguf, writeGguf, type GgufTensor } from "./writer.js";

export interface TinyLlamaOptions {
  /** A GGUF holding a tokenizer (e.g. llama.cpp/models/ggml-vocab-llama-spm.gguf); its tokenizer.* keys are copied. */
  vocabPath: string;
  /** "llama" (default) or "qwen2vl" (M-RoPE). */
  architecture?: "llama" | "qwen2vl";
  seed?: number;
  embeddingSize?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  feedForwardSize?: number;
  contextLength?: number;
  /** Output projection shares the token embedding (as Llama 3.2 1B): no output.weight tensor. */
  tieEmbeddings?: boolean;
  /** Jinja chat template stored as tokenizer.chat_template (default: a Llama-2 style [INST] template). */
  chatTemplate?: string | null;
  name?: string;
  /**
   * Trained values by GGUF tensor name (lib/gguf/trained-llava.ts), instead of seeded random ones: every
   * tensor of the file must be there, with its element count.
   */
  weights?: ReadonlyMap<string, Float32Array>;
  /**
   * Multiplies every logit by this factor (default 1), and nothing else: it is written as the gain of the
   * final RMSNorm (output_norm.weight), which feeds only the output head. Scaling the tied embeddings
   * instead would scale the input too. Random weights give a near-flat next-token distribution over a
   * large vocabulary; a scale of a few concentrates it as a trained chat model's is (bench/models.mjs).
   */
  logitScale?: number;
}

export const LLAMA2_CHAT_TEMPLATE =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}" +
  "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ ' ' + message['content'] + eos_token }}{% endif %}{% endfor %}";

export function writeTinyLlama(path: string, options: TinyLlamaOptions): void {
  const logitScale = options.logitScale ?? 1;
  if (!(Number.isFinite(logitScale) && logitScale > 0)) throw new Error(`logitScale must be a positive number, got ${String(options.logitScale)}`);
  if (options.weights && options.logitScale !== undefined) throw new Error("logitScale applies to random weights: scale the given output_norm.weight instead");
  const nEmbd = options.embeddingSize ?? 64;
  const nLayer = options.layers ?? 2;
  const nHead = options.heads ?? 4;
  const nHeadKv = options.kvHeads ?? 2;
  const nFf = options.feedForwardSize ?? 128;
  const headDim = nEmbd / nHead;
  if (!Number.isInteger(headDim)) throw new Error("embeddingSize must be a multiple of heads");
  const random = seededRandom(options.seed ?? 1);

  const vocab = readGgufMetadata(options.vocabPath);
  const tokens = vocab.kv.get("tokenizer.ggml.tokens");
  if (!tokens || tokens.type !== GgufType.ARRAY) throw new Error(`${options.vocabPath} has no tokenizer.ggml.tokens`);
  const nVocab = tokens.value.length;

  const arch = options.architecture ?? "llama";
  const kv = new Map<string, GgufValue>([
    ["general.architecture", gguf.str(arch)],
    ["general.name", gguf.str(options.name ?? `stagebeam tiny ${arch} (random weights)`)],
    [`${arch}.context_length`, gguf.u32(options.contextLength ?? 2048)],
    [`${arch}.embedding_length`, gguf.u32(nEmbd)],
    [`${arch}.block_count`, gguf.u32(nLayer)],
    [`${arch}.feed_forward_length`, gguf.u32(nFf)],
    [`${arch}.attention.head_count`, gguf.u32(nHead)],
    [`${arch}.attention.head_count_kv`, gguf.u32(nHeadKv)],
    [`${arch}.rope.dimension_count`, gguf.u32(headDim)],
    [`${arch}.rope.freq_base`, gguf.f32(10000)],
    [`${arch}.attention.layer_norm_rms_epsilon`, gguf.f32(1e-5)],
    [`${arch}.vocab_size`, gguf.u32(nVocab)],
    ["general.file_type", gguf.u32(0)],
  ]);
  if (arch === "qwen2vl") {
    // M-RoPE: the rotary pairs of each head split between time, height, width (and an unused 4th).
    const pairs = headDim / 2;
    const third = Math.floor(pairs / 3);
    kv.set("qwen2vl.rope.dimension_sections", gguf.i32s([pairs - 2 * third, third, third, 0]));
  }
  for (const [key, value] of vocab.kv) {
    if (key.startsWith("tokenizer.")) kv.set(key, value);
  }
  const template = options.chatTemplate === undefined ? LLAMA2_CHAT_TEMPLATE : options.chatTemplate;
  if (template === null) kv.delete("tokenizer.chat_template");
  else kv.set("tokenizer.chat_template", gguf.str(template));

  // Values are made when each tensor is written (lazily), in writing order, so the seed gives the same
  // file and a model of several GB never sits in memory whole.
  const uniform = (dims: number[], scale: number) => (): Float32Array => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (random() * 2 - 1) * scale;
    return data;
  };
  const ones = (n: number) => new Float32Array(n).fill(1);
  // Scaled like a trained network's activations: each projection keeps roughly unit variance, and the
  // output projection spreads logits over a few nats, so greedy decoding is not stuck on one token.
  const proj = (fanIn: number, fanOut: number): GgufTensor["data"] => uniform([fanIn, fanOut], Math.sqrt(3 / fanIn));

  const nEmbdKv = headDim * nHeadKv;
  const tensors: GgufTensor[] = [
    // Tied, the embeddings are the output projection too: scaled so logits spread about 2 nats whatever
    // the width (at ±1 a 2048-wide model's logits spread ~26 nats and sampling always picks one token).
    { name: "token_embd.weight", dims: [nEmbd, nVocab], data: uniform([nEmbd, nVocab], options.tieEmbeddings ? Math.sqrt(12 / nEmbd) : 1) },
    { name: "output_norm.weight", dims: [nEmbd], data: new Float32Array(nEmbd).fill(logitScale) },
    ...(options.tieEmbeddings ? [] : [{ name: "output.weight", dims: [nEmbd, nVocab], data: uniform([nEmbd, nVocab], 0.3) }]),
  ];
  for (let i = 0; i < nLayer; i++) {
    const blk = `blk.${i}`;
    tensors.push(
      { name: `${blk}.attn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `${blk}.attn_q.weight`, dims: [nEmbd, nEmbd], data: proj(nEmbd, nEmbd) },
      { name: `${blk}.attn_k.weight`, dims: [nEmbd, nEmbdKv], data: proj(nEmbd, nEmbdKv) },
      { name: `${blk}.attn_v.weight`, dims: [nEmbd, nEmbdKv], data: proj(nEmbd, nEmbdKv) },
      ...(arch === "qwen2vl"
        ? [
            { name: `${blk}.attn_q.bias`, dims: [nEmbd], data: uniform([nEmbd], 0.1) },
            { name: `${blk}.attn_k.bias`, dims: [nEmbdKv], data: uniform([nEmbdKv], 0.1) },
            { name: `${blk}.attn_v.bias`, dims: [nEmbdKv], data: uniform([nEmbdKv], 0.1) },
          ]
        : []),
      { name: `${blk}.attn_output.weight`, dims: [nEmbd, nEmbd], data: proj(nEmbd, nEmbd) },
      { name: `${blk}.ffn_norm.weight`, dims: [nEmbd], data: ones(nEmbd) },
      { name: `${blk}.ffn_gate.weight`, dims: [nEmbd, nFf], data: proj(nEmbd, nFf) },
      { name: `${blk}.ffn_up.weight`, dims: [nEmbd, nFf], data: proj(nEmbd, nFf) },
      { name: `${blk}.ffn_down.weight`, dims: [nFf, nEmbd], data: proj(nFf, nEmbd) },
    );
  }
  writeGguf(path, kv, options.weights ? withGivenWeights(tensors, options.weights) : tensors);
}

/** The tensors with their values taken from `weights` (all of them; a missing or mis-sized one throws). */
export function withGivenWeights(tensors: GgufTensor[], weights: ReadonlyMap<string, Float32Array>): GgufTensor[] {
  return tensors.map((t) => {
    const given = weights.get(t.name);
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (!given) throw new Error(`no trained value for tensor ${t.name}`);
    if (given.length !== n) throw new Error(`tensor ${t.name}: ${given.length} values for dims [${t.dims.join(", ")}]`);
    return { ...t, data: given };
  });
}
