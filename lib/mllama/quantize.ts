// Re-quantizes an mllama (Llama 3.2 Vision) GGUF written by stagebeam's converter, text model or vision
// projector: llama.cpp's quantizer cannot open architecture mllama. The header is read with the GGUF
// reader, each tensor's rows are read and decoded a chunk at a time (F32, F16 or Q8_0 sources), encoded by
// ggml itself through the addon (encodeRows) and streamed into the writer, which writes under a temporary
// name and renames only when complete (an abort or a failure leaves no output file).
//
// Which type each tensor gets:
// - F32 always: 1-D tensors, norms, biases, gates, rope_freqs and the vision embedding tables (patch,
//   class, position and tile-position embeddings), as the converter stores them and the engine requires.
// - "f16": every other (2-D weight) tensor F16.
// - "q8_0": every 2-D weight whose row length is a multiple of 32 Q8_0, else F16 (text and projector).
// - "q4_k_m", text file, a simplified llama.cpp Q4_K_M mix: token_embd and output Q6_K; attn_v (and the
//   cross-attention V projection) and ffn_down Q6_K in blocks i < n/4 and i >= 3n/4 (the first and last
//   quarter of the n = mllama.block_count blocks); every other weight Q4_K. K-quants need rows that are a
//   multiple of 256; other rows fall back to Q8_0 (a multiple of 32) or F16.
// - "q4_k_m", projector: the vision weights stay F16 (the encoder is small and sensitive to quantization).
// A tensor whose chosen type is its source type is copied byte for byte.
import { closeSync, openSync, readSync } from "node:fs";
import { AbortError, createError } from "../errors.js";
import { decodeF16 } from "../gguf/f16.js";
import { decodeQ8_0 } from "../gguf/q8_0.js";
import { readGgufMetadata, type GgufTensorInfo } from "../gguf/reader.js";
import { GgmlType, GgufType, ggmlTensorBytes, ggmlTypeName, type GgufValue } from "../gguf/types.js";
import { writeGgufAsync, type GgufEncodedTensor } from "../gguf/writer.js";
import { nativeAddon } from "../native.js";

export type MllamaQuantizationType = "f16" | "q8_0" | "q4_k_m";

export const MLLAMA_QUANTIZATION_TYPES: readonly MllamaQuantizationType[] = ["f16", "q8_0", "q4_k_m"];

/** llama.cpp's LLAMA_FTYPE numbers for general.file_type. */
const FILE_TYPE = { ALL_F32: 0, MOSTLY_F16: 1, MOSTLY_Q8_0: 7, MOSTLY_Q4_K_M: 15 } as const;

/** About 4 MiB of float32 values per chunk (at least one row). */
const CHUNK_VALUES = 1 << 20;

const SOURCE_TYPES = new Set<number>([GgmlType.F32, GgmlType.F16, GgmlType.Q8_0]);

const ENCODE_NAME: Partial<Record<GgmlType, string>> = {
  [GgmlType.F16]: "f16",
  [GgmlType.Q8_0]: "q8_0",
  [GgmlType.Q4_K]: "q4_k",
  [GgmlType.Q6_K]: "q6_k",
};

export interface MllamaQuantizeOptions {
  input: string;
  output: string;
  type: MllamaQuantizationType;
  signal?: AbortSignal;
  onProgress?: (progress: { bytesWritten: number; bytesTotal: number }) => void;
}

/**
 * Whether a tensor stays F32 whatever the quantization type (see the rule at the top): anything but a 2-D
 * ".weight" (gates such as blk.N.cross_attn_attn_gate or v.global.blk.N.attn_gate have no ".weight"; the
 * MLP's ffn_gate.weight is a matrix and is quantized), norms, rope_freqs and the vision embedding tables.
 */
export function keepsF32(name: string, dims: readonly number[]): boolean {
  if (dims.length !== 2 || !name.endsWith(".weight")) return true;
  return /norm|rope_freqs|position_embd|patch_embd|class_embd/.test(name);
}

/** The block index of a "blk.N." tensor (text file), or undefined. */
function blockIndex(name: string): number | undefined {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** Q8_0 for rows of a multiple of 32, else F16. */
function q8OrF16(rowLength: number): GgmlType {
  return rowLength % 32 === 0 ? GgmlType.Q8_0 : GgmlType.F16;
}

/** The stored type of one tensor under the rule at the top of this file. */
export function mllamaTensorType(
  name: string,
  dims: readonly number[],
  type: MllamaQuantizationType,
  file: { projector: boolean; blockCount: number },
): GgmlType {
  if (keepsF32(name, dims)) return GgmlType.F32;
  const rowLength = dims[0]!;
  if (type === "f16") return GgmlType.F16;
  if (type === "q8_0") return q8OrF16(rowLength);
  if (file.projector) return GgmlType.F16;
  let wanted = GgmlType.Q4_K;
  if (name === "token_embd.weight" || name === "output.weight") {
    wanted = GgmlType.Q6_K;
  } else if (/\.(attn_v|cross_attn_v_proj|ffn_down)\.weight$/.test(name)) {
    const i = blockIndex(name);
    const n = file.blockCount;
    if (i !== undefined && (4 * i < n || 4 * i >= 3 * n)) wanted = GgmlType.Q6_K;
  }
  return rowLength % 256 === 0 ? wanted : q8OrF16(rowLength);
}

function fileTypeOf(type: MllamaQuantizationType, projector: boolean): number {
  if (type === "f16") return FILE_TYPE.MOSTLY_F16;
  if (type === "q8_0") return FILE_TYPE.MOSTLY_Q8_0;
  // A projector's q4_k_m keeps its weights F16: say so rather than claim K-quants it does not hold.
  return projector ? FILE_TYPE.MOSTLY_F16 : FILE_TYPE.MOSTLY_Q4_K_M;
}

function integerKey(kv: Map<string, GgufValue>, key: string): number | undefined {
  const v = kv.get(key);
  if (!v || v.type === GgufType.ARRAY) return undefined;
  return typeof v.value === "number" || typeof v.value === "bigint" ? Number(v.value) : undefined;
}

function readExactly(fd: number, path: string, bytes: Uint8Array, position: number): void {
  let got = 0;
  while (got < bytes.length) {
    const r = readSync(fd, bytes, got, bytes.length - got, position + got);
    if (r === 0) throw createError("INVALID_GGUF", `${path} is truncated: tensor data ends before offset ${position + bytes.length}`);
    got += r;
  }
}

function decode(type: number, bytes: Uint8Array): Float32Array {
  if (type === GgmlType.F32) return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  if (type === GgmlType.F16) return decodeF16(bytes);
  return decodeQ8_0(bytes);
}

/**
 * The encoded bytes of one tensor, a chunk of rows at a time: copied when the type does not change,
 * otherwise decoded to float32 and encoded by ggml.
 */
function* encodedRows(fd: number, path: string, dataStart: number, t: GgufTensorInfo, to: GgmlType): Generator<Uint8Array> {
  const rowLength = t.dims[0]!;
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  const sourceRowBytes = ggmlTensorBytes(t.type, [rowLength])!;
  const rowsPerChunk = Math.max(1, Math.floor(CHUNK_VALUES / rowLength));
  const encoder = ENCODE_NAME[to];
  for (let row = 0; row < rows; row += rowsPerChunk) {
    const n = Math.min(rowsPerChunk, rows - row);
    // A fresh, unshared buffer per chunk: aligned for Float32Array and safe to hand to the writer.
    const bytes = new Uint8Array(n * sourceRowBytes);
    readExactly(fd, path, bytes, dataStart + t.offset + row * sourceRowBytes);
    if (to === t.type) {
      yield bytes;
      continue;
    }
    const values = decode(t.type, bytes);
    if (to === GgmlType.F32) yield new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    else yield nativeAddon().encodeRows(encoder!, values, rowLength);
  }
}

/** Re-quantizes an mllama text model or projector GGUF (see the rule at the top of this file). */
export async function quantizeMllama(options: MllamaQuantizeOptions): Promise<void> {
  const { input, output, type, signal } = options;
  if (!MLLAMA_QUANTIZATION_TYPES.includes(type)) {
    throw createError("INVALID_ARGUMENT", `an mllama model quantizes to ${MLLAMA_QUANTIZATION_TYPES.join(", ")}, not ${String(type)}`);
  }
  if (signal?.aborted) throw new AbortError("the quantization was aborted", { cause: signal.reason });
  const meta = readGgufMetadata(input);
  const kv = new Map(meta.kv);
  const typeKey = kv.get("general.type");
  const projector = typeKey?.type === GgufType.STRING && typeKey.value === "projector";
  const blockCount = integerKey(kv, "mllama.block_count") ?? 0;
  if (!projector && blockCount < 1) throw createError("INVALID_GGUF", `${input} has no mllama.block_count: it is not an mllama text model`);
  for (const t of meta.tensors) {
    if (!SOURCE_TYPES.has(t.type)) {
      throw createError("INVALID_ARGUMENT", `${input}: tensor ${t.name} is ${ggmlTypeName(t.type)}: quantize from an f32/f16/q8_0 file`);
    }
  }
  const existing = kv.get("general.file_type");
  // Keep the key's value type when it has one (the converter writes UINT32).
  const fileTypeValueType = existing && existing.type !== GgufType.ARRAY ? existing.type : GgufType.UINT32;
  kv.set("general.file_type", { type: fileTypeValueType, value: fileTypeOf(type, projector) });

  const fd = openSync(input, "r");
  try {
    const tensors: GgufEncodedTensor[] = meta.tensors.map((t) => {
      const to = mllamaTensorType(t.name, t.dims, type, { projector, blockCount });
      return { name: t.name, dims: t.dims, type: to, encoded: () => encodedRows(fd, input, meta.dataOffset, t, to) };
    });
    await writeGgufAsync(output, kv, tensors, {
      signal,
      onProgress: options.onProgress && ((bytesWritten, bytesTotal) => options.onProgress!({ bytesWritten, bytesTotal })),
    });
  } finally {
    closeSync(fd);
  }
}
