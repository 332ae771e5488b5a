// GGUF value and tensor types (gguf.h / ggml.h numbering).
export enum GgufType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

export type GgufScalar = number | bigint | boolean | string;

/** A typed metadata value, so a value read from one file can be written to another unchanged. */
export type GgufValue =
  | { type: Exclude<GgufType, GgufType.ARRAY>; value: GgufScalar }
  | { type: GgufType.ARRAY; itemType: Exclude<GgufType, GgufType.ARRAY>; value: GgufScalar[] };

/** ggml tensor types (ggml.h numbering). Only the ones stagebeam names; a file may hold others. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  BF16 = 30,
}

/** Elements per block and bytes per block (ggml's type traits), for the types listed in GgmlType. */
const BLOCK_LAYOUT: Partial<Record<number, [elements: number, bytes: number]>> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.Q4_0]: [32, 18],
  [GgmlType.Q4_1]: [32, 20],
  [GgmlType.Q5_0]: [32, 22],
  [GgmlType.Q5_1]: [32, 24],
  [GgmlType.Q8_0]: [32, 34],
  [GgmlType.Q8_1]: [32, 36],
  [GgmlType.Q2_K]: [256, 84],
  [GgmlType.Q3_K]: [256, 110],
  [GgmlType.Q4_K]: [256, 144],
  [GgmlType.Q5_K]: [256, 176],
  [GgmlType.Q6_K]: [256, 210],
  [GgmlType.Q8_K]: [256, 292],
  [GgmlType.I8]: [1, 1],
  [GgmlType.I16]: [1, 2],
  [GgmlType.I32]: [1, 4],
  [GgmlType.I64]: [1, 8],
  [GgmlType.F64]: [1, 8],
  [GgmlType.BF16]: [1, 2],
};

/**
 * Bytes of a tensor's data (without alignment padding), or undefined for a type not listed in
 * GgmlType or a row length that is not a whole number of blocks.
 */
export function ggmlTensorBytes(type: number, dims: readonly number[]): number | undefined {
  const layout = BLOCK_LAYOUT[type];
  if (!layout || dims.length === 0) return undefined;
  const [blockElements, blockBytes] = layout;
  if (dims[0]! % blockElements !== 0) return undefined;
  let rows = 1;
  for (let i = 1; i < dims.length; i++) rows *= dims[i]!;
  return (dims[0]! / blockElements) * blockBytes * rows;
}

export function ggmlTypeName(type: number): string {
  return GgmlType[type] ?? `type ${type}`;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;
