// Fuzz class "gguf": model and projector files damaged at every structure boundary, header fields
// overwritten with edge values, valid files in the wrong role, and well-formed but absurd metadata
// (including chat templates that throw or loop). A case loads the file and, when that succeeds, uses it:
// a model decodes and renders its chat template; a projector encodes an image into the base model.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../../dist/index.js";
import { readGgufMetadata } from "../../dist/gguf/reader.js";
import { gguf, writeGguf } from "../../dist/gguf/writer.js";
import { baseFiles } from "./base-files.mjs";
import { ggufLayout } from "./gguf-layout.mjs";

const U32_EDGES = ["0", "1", "2", "3", "4", "5", "8", "13", "39", "40", "100", "255", "65535", "2147483647", "2147483648", "4294967295"];
const U64_EDGES = [
  "0", "1", "2", "5", "4095", "2147483647", "2147483648", "4294967295", "4294967296", "1099511627776",
  "9223372036854775807", "9223372036854775808", "18446744073709551615", "18446744073709551614",
];
const WIDTH = { version: 4, valueType: 4, arrayType: 4, nDims: 4, tensorType: 4, tensorCount: 8, kvCount: 8, keyLength: 8, stringLength: 8, arrayCount: 8, tensorNameLength: 8, dim: 8, tensorOffset: 8 };
const TRUNCATE_KINDS = ["magic", "version", "tensorCount", "kvCount", "keyLength", "key", "valueType", "value", "stringLength", "arrayType", "arrayCount", "tensorNameLength", "tensorName", "nDims", "dim", "tensorType", "tensorOffset", "padding", "data"];

const CHAT_TEMPLATES = [
  "{{ raise_exception('this template always throws') }}",
  "{% for m in messages %}{{ m.content.no_such_method() }}{% endfor %}",
  "{% for i in range(1000000000) %}x{% endfor %}",
  "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
  "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}",
  "{% for m in messages %}{{ m['content'] ",
  "{{ messages[99999].content }}",
  "{{ undefined_variable.attribute }}",
  "{% if %}",
  "",
  "\u0000\uffff{{ '\\ud800' }}",
  "{{ bos_token * 100000000 }}",
  "{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}{% endfor %}",
  "{% for c in 'x' * 50000000 %}{% endfor %}",
  "{% for m in messages %}{{ '<|im_start|>' + m.role + '\n' + m.content }}{% endfor %}",
];

// Well-formed but absurd metadata: [key, value] for a model, then for a projector.
const ABSURD_MODEL = [
  ["llama.context_length", gguf.u32(0)],
  ["llama.context_length", gguf.u32(1)],
  ["llama.context_length", gguf.u32(0xffffffff)],
  ["llama.attention.head_count", gguf.u32(3)],
  ["llama.attention.head_count", gguf.u32(0)],
  ["llama.attention.head_count_kv", gguf.u32(0)],
  ["llama.attention.head_count_kv", gguf.u32(3)],
  ["llama.attention.head_count_kv", gguf.u32(4)],
  ["llama.embedding_length", gguf.u32(0)],
  ["llama.embedding_length", gguf.u32(17)],
  ["llama.embedding_length", gguf.u32(1 << 30)],
  ["llama.block_count", gguf.u32(0)],
  ["llama.block_count", gguf.u32(2)],
  ["llama.block_count", gguf.u32(100000)],
  ["llama.feed_forward_length", gguf.u32(0)],
  ["llama.rope.dimension_count", gguf.u32(0)],
  ["llama.rope.dimension_count", gguf.u32(1000)],
  ["llama.rope.freq_base", gguf.f32(0)],
  ["llama.rope.freq_base", gguf.f32(Number.NaN)],
  ["llama.attention.layer_norm_rms_epsilon", gguf.f32(0)],
  ["llama.attention.layer_norm_rms_epsilon", gguf.f32(-1)],
  ["llama.vocab_size", gguf.u32(1)],
  ["llama.vocab_size", gguf.u32(0)],
  ["tokenizer.ggml.tokens", gguf.strs(["a"])],
  ["tokenizer.ggml.tokens", gguf.strs([])],
  ["tokenizer.ggml.scores", gguf.f32s([0])],
  ["tokenizer.ggml.token_type", gguf.i32s([1])],
  ["tokenizer.ggml.model", gguf.str("no-such-tokenizer")],
  ["tokenizer.ggml.pre", gguf.str("no-such-pre")],
  ["tokenizer.ggml.bos_token_id", gguf.u32(4000000000)],
  ["tokenizer.ggml.eos_token_id", gguf.u32(32000)],
  ["tokenizer.ggml.unknown_token_id", gguf.u32(99999999)],
  ["general.architecture", gguf.str("")],
  ["general.architecture", gguf.str("clip")],
  ["general.architecture", gguf.str("mllama")],
  ["general.architecture", gguf.str("qwen2vl")],
  ["general.alignment", gguf.u32(0)],
  ["general.alignment", gguf.u32(3)],
  ["general.alignment", gguf.u32(64)],
  ["general.file_type", gguf.u32(9999)],
  ["llama.context_length", gguf.str("2048")],
  ["llama.block_count", gguf.f32(1.5)],
  ["llama.attention.head_count", gguf.i32s([2, 2])],
  ["llama.attention.head_count", gguf.i32s([])],
];
const ABSURD_PROJECTOR = [
  ["clip.vision.image_size", gguf.u32(0)],
  ["clip.vision.image_size", gguf.u32(1)],
  ["clip.vision.image_size", gguf.u32(65535)],
  ["clip.vision.patch_size", gguf.u32(0)],
  ["clip.vision.patch_size", gguf.u32(13)],
  ["clip.vision.patch_size", gguf.u32(112)],
  ["clip.vision.embedding_length", gguf.u32(0)],
  ["clip.vision.embedding_length", gguf.u32(33)],
  ["clip.vision.block_count", gguf.u32(0)],
  ["clip.vision.block_count", gguf.u32(1000)],
  ["clip.vision.attention.head_count", gguf.u32(0)],
  ["clip.vision.attention.head_count", gguf.u32(3)],
  ["clip.vision.projection_dim", gguf.u32(0)],
  ["clip.vision.projection_dim", gguf.u32(17)],
  ["clip.vision.image_mean", gguf.f32s([0.5])],
  ["clip.vision.image_std", gguf.f32s([0, 0, 0])],
  ["clip.vision.image_std", gguf.f32s([])],
  ["clip.projector_type", gguf.str("no-such-projector")],
  ["clip.projector_type", gguf.str("qwen2vl_merger")],
  ["clip.projector_type", gguf.str("gemma3")],
  ["clip.projector_type", gguf.str("mllama")],
  ["clip.projector_type", gguf.str("ldp")],
  ["clip.has_vision_encoder", gguf.bool(false)],
  ["clip.vision.attention.layer_norm_epsilon", gguf.f32(Number.NaN)],
  ["general.architecture", gguf.str("llama")],
  ["clip.vision.image_size", gguf.str("56")],
];

function pickField(random, layout, kinds) {
  const kind = random.pick(kinds.filter((k) => layout.fields.some((f) => f.kind === k)));
  const all = layout.fields.filter((f) => f.kind === kind);
  return { kind, instance: random.int(0, all.length - 1) };
}

function fieldOf(layout, kind, instance) {
  return layout.fields.filter((f) => f.kind === kind)[instance];
}

const layouts = new Map();
function base(name) {
  if (!layouts.has(name)) {
    const bytes = readFileSync(baseFiles[name]);
    layouts.set(name, { bytes, layout: ggufLayout(bytes) });
  }
  return layouts.get(name);
}

const MUTATORS = {
  truncate(random, b) {
    return { ...pickField(random, b.layout, TRUNCATE_KINDS), delta: random.pick([0, 0, 1, -1, 2]) };
  },
  overwrite(random, b) {
    const { kind, instance } = pickField(random, b.layout, Object.keys(WIDTH));
    const value = random.chance(0.15) ? "original+1" : random.pick(WIDTH[kind] === 4 ? U32_EDGES : U64_EDGES);
    return { kind, instance, value };
  },
  bitflip(random, b) {
    const bits = Array.from({ length: random.int(1, 8) }, () => random.int(0, b.layout.dataOffset * 8 - 1));
    return { bits };
  },
  duplicateName(random, b) {
    const kind = random.pick(["tensorName", "key"]);
    const names = b.layout.fields.filter((f) => f.kind === kind);
    const pairs = [];
    for (let i = 0; i < names.length; i++) for (let j = 0; j < names.length; j++) if (i !== j && names[i].bytes === names[j].bytes) pairs.push([i, j]);
    const [from, to] = pairs.length ? random.pick(pairs) : [0, 0];
    return { kind, from, to };
  },
  tensorShape(random, b) {
    const tensor = random.int(0, b.layout.tensors.length - 1);
    const shape = random.pick(["zero", "negative", "overflow", "nDims5", "nDims64", "unknownType", "offsetPastEnd", "offsetMisaligned", "offsetOverlap"]);
    return { tensor, shape };
  },
  dataValues(random, b) {
    const value = random.pick([Number.NaN, Infinity, -Infinity, 3.4e38, -0]);
    return { value, at: Array.from({ length: random.int(1, 64) }, () => random.int(b.layout.dataOffset, b.layout.size - 4) & ~3) };
  },
  absurdMetadata(random, b, baseName) {
    const list = baseName === "model" ? ABSURD_MODEL : ABSURD_PROJECTOR;
    const picks = Array.from({ length: random.chance(0.7) ? 1 : random.int(2, 3) }, () => random.int(0, list.length - 1));
    return { picks };
  },
  chatTemplate(random) {
    return { template: random.int(0, CHAT_TEMPLATES.length - 1) };
  },
  wrongRole(random) {
    return random.pick([
      { file: "projector", role: "model" },
      { file: "projectorMismatch", role: "model" },
      { file: "vocabOnly", role: "model" },
      { file: "model", role: "projector" },
      { file: "vocabOnly", role: "projector" },
      { file: "projectorMismatch", role: "projector" },
    ]);
  },
};

/** A case: which base file, which mutator, and its parameters (all JSON). */
export function makeCase(random) {
  const mutator = random.pick(Object.keys(MUTATORS));
  const baseName = mutator === "chatTemplate" ? "model" : random.pick(["model", "projector"]);
  const params = MUTATORS[mutator](random, base(baseName), baseName);
  return { mutator, base: baseName, ...params };
}

function writeUnsigned(bytes, at, width, value) {
  if (width === 4) bytes.writeUInt32LE(Number(BigInt.asUintN(32, value)), at);
  else bytes.writeBigUInt64LE(BigInt.asUintN(64, value), at);
}

function rebuilt(baseName, edit) {
  const path = baseFiles[baseName];
  const meta = readGgufMetadata(path);
  const bytes = base(baseName).bytes;
  edit(meta.kv);
  const tensors = meta.tensors.map((t) => ({
    name: t.name,
    dims: t.dims,
    type: t.type,
    encoded: () => [bytes.subarray(meta.dataOffset + t.offset, meta.dataOffset + t.offset + t.byteLength)],
  }));
  return { kv: meta.kv, tensors };
}

/** The case's file: bytes, or a { kv, tensors } to write with the GGUF writer, and the role it is loaded in. */
export function caseFile(c) {
  if (c.mutator === "wrongRole") return { path: baseFiles[c.file], role: c.role };
  const role = c.base;
  const { bytes: original, layout } = base(c.base);
  if (c.mutator === "absurdMetadata" || c.mutator === "chatTemplate") {
    const list = c.base === "model" ? ABSURD_MODEL : ABSURD_PROJECTOR;
    return {
      role,
      gguf: rebuilt(c.base, (kv) => {
        // Regression cases (test/fuzz) name the template or the key/values themselves.
        if (c.mutator === "chatTemplate") kv.set("tokenizer.chat_template", gguf.str(c.templateText ?? CHAT_TEMPLATES[c.template]));
        else for (const [key, value] of c.set ?? c.picks.map((p) => list[p])) kv.set(key, value);
      }),
    };
  }
  if (c.mutator === "truncate") {
    const f = fieldOf(layout, c.kind, c.instance);
    return { role, bytes: original.subarray(0, Math.max(0, Math.min(original.length - 1, f.at + c.delta))) };
  }
  const bytes = Buffer.from(original);
  if (c.mutator === "overwrite") {
    const f = fieldOf(layout, c.kind, c.instance);
    const width = WIDTH[c.kind];
    const old = width === 4 ? BigInt(bytes.readUInt32LE(f.at)) : bytes.readBigUInt64LE(f.at);
    writeUnsigned(bytes, f.at, width, c.value === "original+1" ? old + 1n : BigInt(c.value));
  } else if (c.mutator === "bitflip") {
    for (const bit of c.bits) bytes[bit >> 3] ^= 1 << (bit & 7);
  } else if (c.mutator === "duplicateName") {
    const names = layout.fields.filter((f) => f.kind === c.kind);
    original.copy(bytes, names[c.to].at, names[c.from].at, names[c.from].at + names[c.from].bytes);
  } else if (c.mutator === "tensorShape") {
    const t = layout.tensors[c.tensor];
    const fields = layout.fields.filter((f) => f.tensor === t.name && f.kind !== "data");
    const get = (kind) => fields.find((f) => f.kind === kind);
    const dim = fields.filter((f) => f.kind === "dim");
    const shapes = {
      zero: () => bytes.writeBigUInt64LE(0n, dim[0].at),
      negative: () => bytes.writeBigInt64LE(-1n, dim[dim.length - 1].at),
      overflow: () => dim.forEach((d) => bytes.writeBigUInt64LE(1n << 40n, d.at)),
      nDims5: () => bytes.writeUInt32LE(5, get("nDims").at),
      nDims64: () => bytes.writeUInt32LE(64, get("nDims").at),
      unknownType: () => bytes.writeUInt32LE(77, get("tensorType").at),
      offsetPastEnd: () => bytes.writeBigUInt64LE(BigInt(layout.size * 2), get("tensorOffset").at),
      offsetMisaligned: () => bytes.writeBigUInt64LE(BigInt(t.offset + 4), get("tensorOffset").at),
      offsetOverlap: () => bytes.writeBigUInt64LE(0n, get("tensorOffset").at),
    };
    shapes[c.shape]();
  } else if (c.mutator === "dataValues") {
    for (const at of c.at) bytes.writeFloatLE(c.value, at);
  }
  return { role, bytes };
}

const image = { width: 56, height: 56, data: new Uint8Array(56 * 56 * 3).fill(90) };

/** Loads the case's file in its role and, when that works, uses it. */
export async function runCase(c, resources) {
  const file = caseFile(c);
  let path = file.path;
  if (!path) {
    path = join(resources.tmp, `case-${resources.serial++}.gguf`);
    if (file.bytes) writeFileSync(path, file.bytes);
    else writeGguf(path, file.gguf.kv, file.gguf.tensors);
  }
  try {
    if (file.role === "projector") {
      const host = await resources.projectorHost();
      const projector = await host.loadProjector(path, { threads: 1, useGpu: false });
      const context = await host.createContext({ contextSize: 256, sequences: 1, threads: 1 });
      try {
        const sequence = context.createSequence();
        await sequence.evaluate({ prompt: `see ${projector.marker}`, images: [image] });
      } finally {
        await context.dispose();
      }
      return;
    }
    const model = await loadModel({ path, gpuLayers: 0 });
    try {
      const context = await model.createContext({ contextSize: 128, sequences: 8, threads: 1 });
      const sequence = context.createSequence();
      await sequence.evaluate("hello there");
      await context.generate([sequence], { maxTokens: 2 }).result();
      await sequence.dispose();
      if (c.mutator === "chatTemplate") {
        context.applyChatTemplate([{ role: "user", content: "hi" }], { addGenerationPrompt: true });
        await model.reason({ context, question: "why?", strategy: "single", maxStageTokens: 2, maxJudgeTokens: 2 });
      }
    } finally {
      await model.dispose();
    }
  } finally {
    if (!file.path) rmSync(path, { force: true });
  }
}
