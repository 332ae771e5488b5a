// Which GGUF of a repository `hf:OWNER/REPO:QUANT` means, and which projector goes with it, from file names
// alone (as llama.cpp's `-hf` does). A quantization matches as a whole word of the path, case-insensitively:
// Q4_K_M matches model-Q4_K_M.gguf, model.q4_k_m.gguf and Q4_K_M/model.gguf, but not model-Q4_K_S.gguf, and
// Q4_K does not match Q4_K_M. With no quantization asked for: Q4_K_M if there is one, else the first GGUF.
import { createError } from "../errors.js";

const GGUF = /\.gguf$/i;
const SPLIT = /-(\d{5})-of-(\d{5})\.gguf$/i;
const isProjectorName = (path: string) => /mmproj/i.test(path.split("/").at(-1)!);
// imatrix data is GGUF too on some repos, but no model.
const isModelName = (path: string) => GGUF.test(path) && !isProjectorName(path) && !/imatrix/i.test(path);
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Whether `quant` is a whole word of the path: preceded by a separator (- . _ /) and followed by - . / or the end. */
export function hasQuant(path: string, quant: string): boolean {
  return new RegExp(`(?:^|[-._/])${escape(quant)}(?=[-./]|$)`, "i").test(path.replace(GGUF, ""));
}

// The quantization or precision a file name carries (Q4_K_M, IQ4_XS, Q8_0, F16, BF16, F32, …), if any.
const PRECISION = /(?:^|[-._/])((?:I?Q\d(?:_[A-Z0-9]+)*)|B?F16|F32|FP16|FP32)(?=[-./]|$)/i;
export function precisionOf(path: string): string | null {
  return PRECISION.exec(path.replace(GGUF, ""))?.[1] ?? null;
}

/** The model file `quant` (null: the default) names among `files`; MODEL_NOT_FOUND or INVALID_ARGUMENT otherwise. */
export function pickModelFile(files: readonly string[], quant: string | null, name: string): string {
  const models = files.filter(isModelName).sort();
  if (models.length === 0) throw createError("MODEL_NOT_FOUND", `${name} has no GGUF model files${files.some(isProjectorName) ? " (only projectors)" : ""}: is it a GGUF repository?`);
  const wanted = quant ?? "Q4_K_M";
  const matching = models.filter((f) => hasQuant(f, wanted));
  const candidates = matching.length > 0 ? matching : quant === null ? models : [];
  if (candidates.length === 0) {
    const shown = models.slice(0, 12).join(", ") + (models.length > 12 ? `, … (${models.length} in all)` : "");
    throw createError("MODEL_NOT_FOUND", `${name} has no ${quant} GGUF; its GGUF files are: ${shown}. Name one with hf:OWNER/REPO:QUANT or hf:OWNER/REPO/FILE.gguf`);
  }
  const whole = candidates.find((f) => !SPLIT.test(f));
  if (whole) return whole;
  const first = candidates[0]!;
  const parts = SPLIT.exec(first)![2];
  throw createError(
    "INVALID_ARGUMENT",
    `${name}: ${first} is split into ${Number(parts)} files, and stagebeam does not load split GGUFs yet: merge them with llama.cpp's llama-gguf-split --merge, or choose another quantization`,
  );
}

/**
 * The projector (mmproj) to use with `model` among `files`, or null: one that carries the model's precision
 * (mmproj-…-Q8_0 for a Q8_0 model, mmproj-…-bf16 for a BF16 one), else the F16 one (how most repositories ship
 * it), else the first.
 */
export function pickProjectorFile(files: readonly string[], model: string): string | null {
  return chooseProjector(files.filter((f) => GGUF.test(f) && isProjectorName(f)), model);
}

/** The same choice among files already known to be projectors (e.g. from their headers). */
export function chooseProjector(projectors: readonly string[], model: string): string | null {
  const sorted = [...projectors].sort();
  if (sorted.length === 0) return null;
  const precision = precisionOf(model);
  return (precision ? sorted.find((f) => hasQuant(f, precision)) : undefined) ?? sorted.find((f) => hasQuant(f, "F16")) ?? sorted[0]!;
}
