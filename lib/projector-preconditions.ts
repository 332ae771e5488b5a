// What a libmtmd projector file must satisfy before libmtmd sees it, because libmtmd checks it only by
// GGML_ASSERT (which aborts the whole process). Its graph builders assert that some optional
// tensors are present or absent for their projector type. A file that breaks one — a conversion gone
// wrong, or a clip.projector_type changed by hand (the fuzz harness, test/fuzz, found an mlp projector
// relabelled qwen2vl_merger) — loads without complaint and then kills Node at its first image. These are
// those asserts on tensor presence (llama.cpp tools/mtmd/models/*.cpp at the pinned commit), checked
// against the file's tensor table before libmtmd sees it.
import { createError } from "./errors.js";
import { readGgufMetadata, type GgufMetadata } from "./gguf/reader.js";
import { GgufType, type GgufValue } from "./gguf/types.js";
import { projectorKeyTypes } from "./projector-key-types.js";

const CLASS_EMBEDDING = "v.class_embd";
const PATCH_BIAS = "v.patch_embd.bias";
const POSITION_EMBEDDING = "v.position_embd.weight";
const PATCH_EMBEDDING = "v.patch_embd.weight";
const PATCH_EMBEDDING_1 = "v.patch_embd.weight.1";
const IMAGE_NEWLINE = "v.image_newline";

/** By clip.projector_type: tensors the type's graph requires, and tensors it refuses. */
const rules: Record<string, { present?: string[]; absent?: string[] }> = {
  qwen2vl_merger: { absent: [CLASS_EMBEDDING, PATCH_BIAS] },
  "qwen2.5vl_merger": { absent: [CLASS_EMBEDDING, PATCH_BIAS] },
  qwen3vl_merger: { present: [PATCH_BIAS, POSITION_EMBEDDING], absent: [CLASS_EMBEDDING] },
  exaone4_5: { absent: [CLASS_EMBEDDING, PATCH_BIAS] },
  glm4v: { present: [PATCH_BIAS], absent: [CLASS_EMBEDDING] },
  granite4_vision: { present: [IMAGE_NEWLINE, PATCH_EMBEDDING, POSITION_EMBEDDING], absent: [CLASS_EMBEDDING] },
  mimovl: { present: [PATCH_EMBEDDING, PATCH_EMBEDDING_1], absent: [CLASS_EMBEDDING] },
  resampler: { absent: [CLASS_EMBEDDING] },
  minimax_m3: { absent: [CLASS_EMBEDDING] },
  step3vl: { present: [PATCH_EMBEDDING, POSITION_EMBEDDING], absent: [CLASS_EMBEDDING] },
  youtuvl: { absent: [CLASS_EMBEDDING] },
  cogvlm: { present: [CLASS_EMBEDDING, POSITION_EMBEDDING] },
  internvl: { present: [CLASS_EMBEDDING, POSITION_EMBEDDING] },
  llama4: { present: [CLASS_EMBEDDING, POSITION_EMBEDDING] },
  nemotron_v2_vl: { present: [CLASS_EMBEDDING, POSITION_EMBEDDING] },
};

const keyTypes = projectorKeyTypes();
const typeName = (type: GgufType) => (GgufType[type] ?? `type ${type}`).toLowerCase();
/** "a uint32", "an int32" (a type name read aloud: "u" sounds as "you"). */
const withArticle = (name: string) => `${/^[aeio]/.test(name) ? "an" : "a"} ${name}`;

/**
 * Every key libmtmd reads with a scalar getter holds the one type that getter accepts (anything else is a
 * GGML_ASSERT in gguf.cpp: fuzz seed 4, gguf #375). An integer stored in a narrower or signed type is
 * refused too, as libmtmd would abort on it, rather than converted behind the user's back.
 */
function checkValueTypes(path: string, kv: Map<string, GgufValue>): void {
  for (const [key, value] of kv) {
    const expected = keyTypes.get(key);
    if (expected === undefined || value.type === expected) continue;
    const got = value.type === GgufType.ARRAY ? `an array of ${typeName(value.itemType)}` : withArticle(typeName(value.type));
    throw createError("INVALID_PROJECTOR", `${path}: ${key} is ${got}, but libmtmd reads it as ${withArticle(typeName(expected))}: the projector file is damaged; convert it again`);
  }
}

/**
 * The vision hyperparameters libmtmd builds its graph from, as the fuzz harness found them crashing it:
 * an image smaller than a patch (no patches), heads that do not divide the width, a NaN epsilon. (Their
 * types were checked first, by checkValueTypes: the sizes are uint32 where present.)
 */
function checkHyperparameters(path: string, kv: Map<string, GgufValue>): void {
  const fail = (what: string) => {
    throw createError("INVALID_PROJECTOR", `${path}: ${what}: the projector file is damaged; convert it again`);
  };
  const uint32 = (key: string) => kv.get(key)?.value as number | undefined;
  const imageSize = uint32("clip.vision.image_size");
  const patchSize = uint32("clip.vision.patch_size");
  const width = uint32("clip.vision.embedding_length");
  const heads = uint32("clip.vision.attention.head_count");
  if (patchSize !== undefined && patchSize < 1) fail(`patch size ${patchSize}`);
  if (imageSize !== undefined && (imageSize > 16384 || (patchSize !== undefined && imageSize < patchSize))) fail(`image size ${imageSize} for patches of ${patchSize}`);
  if (width !== undefined && heads !== undefined && (heads < 1 || width % heads !== 0)) fail(`${heads} attention heads cannot split a width of ${width}`);
  const epsilon = kv.get("clip.vision.attention.layer_norm_epsilon");
  if (epsilon !== undefined && !(typeof epsilon.value === "number" && Number.isFinite(epsilon.value) && epsilon.value >= 0)) fail("the layer norm epsilon is not a finite non-negative number");
}

/**
 * Every tensor has a size and its data lies inside the file. libmtmd allocates each tensor by its dims
 * before reading it: a zero dim reached a broadcast assert (ggml_can_repeat) at the first image, and
 * dims of 2^40 an allocation that failed by GGML_ASSERT(buffer) (fuzz gguf #375, #1066, #1072).
 */
function checkTensorTable(path: string, meta: GgufMetadata): void {
  for (const t of meta.tensors) {
    if (t.dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw createError("INVALID_PROJECTOR", `${path}: tensor ${t.name} has dims [${t.dims.join(", ")}]: the projector file is damaged; convert it again`);
    }
    if (t.byteLength !== undefined && meta.dataOffset + t.offset + t.byteLength > meta.fileSize) {
      throw createError(
        "INVALID_PROJECTOR",
        `${path} is truncated or damaged: tensor ${t.name} [${t.dims.join(", ")}] needs ${t.byteLength} bytes at offset ${meta.dataOffset + t.offset}, but the file has ${meta.fileSize}; download or convert it again`,
      );
    }
  }
}

/**
 * The LLaVA-style mlp projector (libmtmd's clip_graph_llava): the tensors its graph uses without a null
 * check, with the shapes its operations assert. A tensor renamed by a flipped bit went missing and the
 * graph dereferenced null (SIGSEGV, fuzz gguf #214, #228, #739); a wrong dim trips a ggml shape assert.
 * Only this type is checked shape by shape: it is the one LLaVA 1.5/1.6 and the project's fixtures use.
 */
function checkMlpTensors(path: string, meta: GgufMetadata): void {
  const fail = (what: string): never => {
    throw createError("INVALID_PROJECTOR", `${path}: ${what}: the mlp projector file is damaged or mislabelled; convert it again`);
  };
  const number = (key: string): number | undefined => {
    const v = meta.kv.get(key)?.value;
    return typeof v === "number" ? v : undefined;
  };
  const tensors = new Map(meta.tensors.map((t) => [t.name, t.dims]));
  const dims = (name: string) => tensors.get(name);
  const shape = (name: string, expected: (number | undefined)[], required = true) => {
    const got = dims(name);
    if (got === undefined) {
      if (required) fail(`it lacks ${name}`);
      return;
    }
    const same = got.length >= expected.length && got.slice(expected.length).every((d) => d === 1) && expected.every((e, i) => e === undefined || got[i] === e);
    if (!same) fail(`${name} is [${got.join(", ")}], not [${expected.map((e) => e ?? "n").join(", ")}]`);
  };
  const width = number("clip.vision.embedding_length");
  const ff = number("clip.vision.feed_forward_length");
  const layers = number("clip.vision.block_count") ?? 0;
  const patch = number("clip.vision.patch_size");
  const image = number("clip.vision.image_size");
  if (width === undefined || patch === undefined || image === undefined) return; // libmtmd refuses the file itself

  shape("v.patch_embd.weight", [patch, patch, 3, width]);
  shape("v.patch_embd.bias", [width], false);
  shape("v.class_embd", [width], false);
  const positions = (Math.floor(image / patch) ** 2) + (tensors.has("v.class_embd") ? 1 : 0);
  const position = dims("v.position_embd.weight");
  if (position === undefined) fail("it lacks v.position_embd.weight");
  else if (position[0] !== width || (position[1] ?? 1) < positions) fail(`v.position_embd.weight is [${position.join(", ")}], not [${width}, ≥${positions}]`);
  for (const norm of ["v.pre_ln", "v.post_ln"]) {
    shape(`${norm}.weight`, [width], false);
    shape(`${norm}.bias`, [width], false);
  }
  for (let il = 0; il < layers; il++) {
    const blk = `v.blk.${il}`;
    for (const proj of ["attn_q", "attn_k", "attn_v", "attn_out"]) {
      shape(`${blk}.${proj}.weight`, [width, width]);
      shape(`${blk}.${proj}.bias`, [width], false);
    }
    for (const norm of ["ln1", "ln2"]) {
      shape(`${blk}.${norm}.weight`, [width], false);
      shape(`${blk}.${norm}.bias`, [width], false);
    }
    // libmtmd swaps up and down when a file stores them the other way round (down's rows as wide as the
    // model), so either orientation is right, as long as the two agree.
    const up = dims(`${blk}.ffn_up.weight`);
    const down = dims(`${blk}.ffn_down.weight`);
    if (up === undefined || down === undefined) fail(`it lacks ${blk}.ffn_up.weight or ${blk}.ffn_down.weight`);
    const swapped = down![0] === width;
    const hidden = swapped ? down![1] : up![1];
    shape(`${blk}.ffn_up.weight`, swapped ? [hidden, width] : [width, hidden ?? ff]);
    shape(`${blk}.ffn_down.weight`, swapped ? [width, hidden] : [hidden ?? ff, width]);
    shape(`${blk}.ffn_up.bias`, [swapped ? width : hidden], false);
    shape(`${blk}.ffn_down.bias`, [swapped ? hidden : width], false);
  }
  const first = dims("mm.0.weight");
  if (first === undefined) fail("it lacks mm.0.weight");
  shape("mm.0.weight", [width, undefined]);
  shape("mm.0.bias", [first![1]]);
  const second = dims("mm.2.weight");
  if (second !== undefined) {
    shape("mm.2.weight", [first![1], undefined]);
    shape("mm.2.bias", [second[1]]);
  }
}

/** Throws INVALID_PROJECTOR when the file would trip one of libmtmd's asserts. */
export function checkProjectorFile(path: string): void {
  const meta = readGgufMetadata(path);
  checkValueTypes(path, meta.kv);
  checkHyperparameters(path, meta.kv);
  checkTensorTable(path, meta);
  const typeValue = meta.kv.get("clip.projector_type") ?? meta.kv.get("clip.vision.projector_type");
  const type = typeValue && typeof typeValue.value === "string" ? typeValue.value : undefined;
  if (type === "mlp") checkMlpTensors(path, meta);
  const rule = type === undefined ? undefined : rules[type];
  if (!rule) return;
  const names = new Set(meta.tensors.map((t) => t.name));
  const missing = (rule.present ?? []).filter((n) => !names.has(n));
  const extra = (rule.absent ?? []).filter((n) => names.has(n));
  if (missing.length === 0 && extra.length === 0) return;
  const problems = [...(missing.length ? [`lacks ${missing.join(", ")}`] : []), ...(extra.length ? [`has ${extra.join(", ")}, which it cannot use`] : [])];
  throw createError("INVALID_PROJECTOR", `${path} says it is a ${type} projector but ${problems.join(" and ")}: the file is damaged or mislabelled; convert the projector again`);
}
