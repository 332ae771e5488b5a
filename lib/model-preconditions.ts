// What a llama.cpp model file's header must satisfy before llama.cpp sees it, because llama.cpp checks it
// only by GGML_ASSERT, which aborts the whole process (found by the fuzz harness, test/fuzz): a layer
// count of 0 or over LLAMA_MAX_LAYERS, a negative or NaN norm epsilon, a vocabulary with a token twice. Files it cannot read as GGUF
// are left to llama.cpp, which refuses them with an error of its own.
import { createError } from "./errors.js";
import { readGgufMetadata } from "./gguf/reader.js";
import { GgufType } from "./gguf/types.js";

/** llama.cpp's LLAMA_MAX_LAYERS (src/llama-hparams.h). */
const MAX_LAYERS = 512;

export function checkModelFile(path: string): void {
  let kv;
  try {
    kv = readGgufMetadata(path).kv;
  } catch {
    return;
  }
  const arch = kv.get("general.architecture")?.value;
  if (typeof arch !== "string") return;
  const fail = (what: string) => {
    throw createError("MODEL_LOAD_FAILED", `${path}: ${what}: the model file is damaged; convert it again`);
  };
  const layers = kv.get(`${arch}.block_count`);
  if (layers !== undefined && !(typeof layers.value === "number" && Number.isInteger(layers.value) && layers.value >= 1 && layers.value <= MAX_LAYERS)) {
    fail(`${arch}.block_count must be from 1 to ${MAX_LAYERS}`);
  }
  // llama.cpp maps token text to id and back, and asserts that both maps have every token.
  const tokens = kv.get("tokenizer.ggml.tokens");
  if (tokens?.type === GgufType.ARRAY && new Set(tokens.value).size !== tokens.value.length) fail("tokenizer.ggml.tokens holds the same token twice");
  for (const key of [`${arch}.attention.layer_norm_rms_epsilon`, `${arch}.attention.layer_norm_epsilon`]) {
    const epsilon = kv.get(key);
    if (epsilon !== undefined && !(typeof epsilon.value === "number" && Number.isFinite(epsilon.value) && epsilon.value >= 0)) fail(`${key} must be a finite non-negative number`);
  }
}
