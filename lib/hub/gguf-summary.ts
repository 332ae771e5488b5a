// What a GGUF file is, from its header alone (readGgufMetadata reads the key/values and the tensor table, never
// the weights: a 40 GB model costs a few reads): architecture, quantization, and whether it is a projector.
import { statSync } from "node:fs";
import { readGgufMetadata } from "../gguf/reader.js";
import { ggmlTypeName, GgufType } from "../gguf/types.js";

export interface GgufSummary {
  architecture: string | null;
  /** llama.cpp's name for general.file_type (Q4_K_M, Q8_0, BF16, …), else the most common weight type. */
  quantization: string | null;
  /** A multimodal projector (mmproj) rather than a text model. */
  projector: boolean;
  sizeBytes: number;
}

// llama.cpp's llama_ftype (include/llama.h): general.file_type.
const FILE_TYPES: Record<number, string> = {
  0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M",
  13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS",
  21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
  29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4",
  40: "Q1_0", 41: "Q2_0",
};

export function summarizeGguf(path: string): GgufSummary {
  const meta = readGgufMetadata(path);
  const text = (key: string) => {
    const v = meta.kv.get(key);
    return v && v.type === GgufType.STRING ? String(v.value) : null;
  };
  const fileTypeValue = meta.kv.get("general.file_type");
  const fileType = fileTypeValue && fileTypeValue.type !== GgufType.ARRAY ? Number(fileTypeValue.value) : null;
  let quantization = fileType !== null ? (FILE_TYPES[fileType] ?? `file type ${fileType}`) : null;
  if (quantization === null) {
    // No file type: the type most weight matrices have.
    const counts = new Map<number, number>();
    for (const t of meta.tensors) if (t.dims.length >= 2) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
    const common = [...counts].sort((a, b) => b[1] - a[1])[0];
    quantization = common ? ggmlTypeName(common[0]) : null;
  }
  const architecture = text("general.architecture");
  const type = text("general.type");
  return {
    architecture,
    quantization,
    projector: architecture === "clip" || type === "projector" || type === "mmproj",
    sizeBytes: statSync(path).size,
  };
}
