// What a libmtmd projector file must satisfy before libmtmd sees it, because libmtmd checks it only by
// GGML_ASSERT (which aborts the whole process). Its graph builders assert that some optional
// tensors are present or absent for their projector type. A file that breaks one — a conversion gone
// wrong, or a clip.projector_type changed by hand (the fuzz harness, test/fuzz, found an mlp projector
// relabelled qwen2vl_merger) — loads without complaint and then kills Node at its first image. These are
// those asserts on tensor presence (llama.cpp tools/mtmd/models/*.cpp at the pinned commit), checked
// against the file's tensor table before libmtmd sees it.
import { createError } from "./errors.js";
import { readGgufMetadata } from "./gguf/reader.js";
import { GgufType, type GgufValue } from "./gguf/types.js";

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

/**
 * The vision hyperparameters libmtmd builds its graph from, as the fuzz harness found them crashing it:
 * an image smaller than a patch (no patches), heads that do not divide the width, a NaN epsilon, or a
 * value of another GGUF type than the number expected.
 */
function checkHyperparameters(path: string, kv: Map<string, GgufValue>): void {
  const fail = (what: string) => {
    throw createError("INVALID_PROJECTOR", `${path}: ${what}: the projector file is damaged; convert it again`);
  };
  const integer = (key: string): number | undefined => {
    const entry = kv.get(key);
    if (entry === undefined) return undefined;
    if (entry.type === GgufType.ARRAY || typeof entry.value !== "number" || !Number.isInteger(entry.value)) fail(`${key} is not an integer`);
    return entry.value as number;
  };
  const imageSize = integer("clip.vision.image_size");
  const patchSize = integer("clip.vision.patch_size");
  const width = integer("clip.vision.embedding_length");
  const heads = integer("clip.vision.attention.head_count");
  if (patchSize !== undefined && patchSize < 1) fail(`patch size ${patchSize}`);
  if (imageSize !== undefined && (imageSize > 16384 || (patchSize !== undefined && imageSize < patchSize))) fail(`image size ${imageSize} for patches of ${patchSize}`);
  if (width !== undefined && heads !== undefined && (heads < 1 || width % heads !== 0)) fail(`${heads} attention heads cannot split a width of ${width}`);
  const epsilon = kv.get("clip.vision.attention.layer_norm_epsilon");
  if (epsilon !== undefined && !(typeof epsilon.value === "number" && Number.isFinite(epsilon.value) && epsilon.value >= 0)) fail("the layer norm epsilon is not a finite non-negative number");
}

/** Throws INVALID_PROJECTOR when the file would trip one of libmtmd's asserts. */
export function checkProjectorFile(path: string): void {
  const meta = readGgufMetadata(path);
  checkHyperparameters(path, meta.kv);
  const typeValue = meta.kv.get("clip.projector_type") ?? meta.kv.get("clip.vision.projector_type");
  const type = typeValue && typeof typeValue.value === "string" ? typeValue.value : undefined;
  const rule = type === undefined ? undefined : rules[type];
  if (!rule) return;
  const names = new Set(meta.tensors.map((t) => t.name));
  const missing = (rule.present ?? []).filter((n) => !names.has(n));
  const extra = (rule.absent ?? []).filter((n) => names.has(n));
  if (missing.length === 0 && extra.length === 0) return;
  const problems = [...(missing.length ? [`lacks ${missing.join(", ")}`] : []), ...(extra.length ? [`has ${extra.join(", ")}, which it cannot use`] : [])];
  throw createError("INVALID_PROJECTOR", `${path} says it is a ${type} projector but ${problems.join(" and ")}: the file is damaged or mislabelled; convert the projector again`);
}
