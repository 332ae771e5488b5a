// Writes a small LLaVA-style model trained in torch (eval/train/tiny_llava.py) as a llama GGUF and an
// `mlp` mmproj with the project's own writers (writeTinyLlama, writeTinyClip given trained values). The
// torch side dumps its state dict as float32 with a manifest; this maps its names onto GGUF names and
// undoes what training simplified: its vocabulary is the tokens the data uses (expanded here to the full
// tokenizer, every other output row being the shared "unused" row it learnt), and libmtmd skips a
// projector's last vision block (so the file gets one more block than was trained, never run).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { writeTinyClip } from "./tiny-clip.js";
import { writeTinyLlama } from "./tiny-llama.js";

export interface TrainedLlavaConfig {
  embd: number;
  layers: number;
  heads: number;
  ff: number;
  v_embd: number;
  v_layers: number;
  v_heads: number;
  v_ff: number;
  image_size: number;
  patch: number;
}

interface Manifest {
  config: TrainedLlavaConfig;
  used_tokens: number[];
  n_vocab: number;
  tensors: { name: string; shape: number[]; offset: number }[];
}

/** The state dict of a weights folder (manifest.json + weights.f32), by torch name. */
export function readTorchWeights(dir: string): { manifest: Manifest; tensors: Map<string, Float32Array> } {
  const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as Manifest;
  const raw = readFileSync(join(dir, "weights.f32"));
  const all = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  const tensors = new Map<string, Float32Array>();
  for (const t of manifest.tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    tensors.set(t.name, all.subarray(t.offset / 4, t.offset / 4 + n));
  }
  return { manifest, tensors };
}

export function writeTrainedLlava(o: { weightsDir: string; vocabPath: string; modelPath: string; projectorPath: string; contextLength?: number; name?: string }): TrainedLlavaConfig {
  const { manifest, tensors } = readTorchWeights(o.weightsDir);
  const c = manifest.config;
  const get = (name: string): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${o.weightsDir}: no tensor ${name}`);
    return t;
  };
  // torch Linear weights are (out, in) row-major: ggml's [in, out] as they are, no transposition.
  const text = new Map<string, Float32Array>();
  const d = c.embd;
  const nVocab = manifest.n_vocab;
  const embed = new Float32Array(nVocab * d);
  const output = new Float32Array(nVocab * d);
  const subEmbed = get("text.embed.weight");
  const subOut = get("text.out.weight");
  const unused = get("text.unused");
  for (let v = 0; v < nVocab; v++) output.set(unused, v * d);
  manifest.used_tokens.forEach((token, i) => {
    embed.set(subEmbed.subarray(i * d, (i + 1) * d), token * d);
    output.set(subOut.subarray(i * d, (i + 1) * d), token * d);
  });
  text.set("token_embd.weight", embed);
  text.set("output.weight", output);
  text.set("output_norm.weight", get("text.norm.w"));
  const textNames: Record<string, string> = { "attn_norm.w": "attn_norm.weight", "q.weight": "attn_q.weight", "k.weight": "attn_k.weight", "v.weight": "attn_v.weight", "o.weight": "attn_output.weight", "ffn_norm.w": "ffn_norm.weight", "gate.weight": "ffn_gate.weight", "up.weight": "ffn_up.weight", "down.weight": "ffn_down.weight" };
  for (let i = 0; i < c.layers; i++) {
    for (const [from, to] of Object.entries(textNames)) text.set(`blk.${i}.${to}`, get(`text.layers.${i}.${from}`));
  }
  writeTinyLlama(o.modelPath, {
    vocabPath: o.vocabPath,
    embeddingSize: d,
    layers: c.layers,
    heads: c.heads,
    kvHeads: c.heads,
    feedForwardSize: c.ff,
    contextLength: o.contextLength ?? 4096,
    name: o.name ?? "stagebeam eval llava (trained on synthetic scenes)",
    weights: text,
  });

  const vision = new Map<string, Float32Array>([
    ["v.patch_embd.weight", get("vision.patch.weight")],
    ["v.class_embd", get("vision.cls")],
    ["v.position_embd.weight", get("vision.pos")],
    ["v.pre_ln.weight", get("vision.pre_ln.weight")],
    ["v.pre_ln.bias", get("vision.pre_ln.bias")],
    ["mm.0.weight", get("vision.mm0.weight")],
    ["mm.0.bias", get("vision.mm0.bias")],
    ["mm.2.weight", get("vision.mm2.weight")],
    ["mm.2.bias", get("vision.mm2.bias")],
  ]);
  const visionNames: Record<string, string> = { ln1: "ln1", ln2: "ln2", q: "attn_q", k: "attn_k", v: "attn_v", o: "attn_out", up: "ffn_up", down: "ffn_down" };
  const sizes: Record<string, [number, number]> = { ln1: [c.v_embd, 0], ln2: [c.v_embd, 0], q: [c.v_embd, c.v_embd], k: [c.v_embd, c.v_embd], v: [c.v_embd, c.v_embd], o: [c.v_embd, c.v_embd], up: [c.v_embd, c.v_ff], down: [c.v_ff, c.v_embd] };
  for (let i = 0; i <= c.v_layers; i++) {
    for (const [from, to] of Object.entries(visionNames)) {
      const [fanIn, fanOut] = sizes[from]!;
      const ln = fanOut === 0;
      // the extra last block, which libmtmd never runs: zeros
      const weight = i < c.v_layers ? get(`vision.blocks.${i}.${from}.weight`) : new Float32Array(ln ? fanIn : fanIn * fanOut);
      const bias = i < c.v_layers ? get(`vision.blocks.${i}.${from}.bias`) : new Float32Array(ln ? fanIn : fanOut);
      vision.set(`v.blk.${i}.${to}.weight`, weight);
      vision.set(`v.blk.${i}.${to}.bias`, bias);
    }
  }
  writeTinyClip(o.projectorPath, {
    textEmbeddingSize: d,
    projectorType: "mlp",
    embeddingSize: c.v_embd,
    layers: c.v_layers + 1,
    heads: c.v_heads,
    feedForwardSize: c.v_ff,
    imageSize: c.image_size,
    patchSize: c.patch,
    name: "stagebeam eval llava projector (trained on synthetic scenes)",
    weights: vision,
  });
  return c;
}
