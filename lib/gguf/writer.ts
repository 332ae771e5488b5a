// Writes GGUF v3 files: typed metadata and F32 tensors. Used to generate tiny random-weight models
// (tests, the demo) without any download.
import { closeSync, openSync, writeSync } from "node:fs";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgmlType, GgufType, type GgufScalar, type GgufValue } from "./types.js";

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (row length). */
  dims: number[];
  /** The values, or a function making them when the tensor is written (so a model of several GB is
   *  never in memory at once). */
  data: Float32Array | (() => Float32Array);
}

class ByteSink {
  chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer) {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: bigint | number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string) {
    const bytes = Buffer.from(s, "utf8");
    this.u64(bytes.length);
    this.push(bytes);
  }
  scalar(type: GgufType, v: GgufScalar) {
    const b = Buffer.alloc(8);
    switch (type) {
      case GgufType.UINT8: b.writeUInt8(Number(v)); return this.push(b.subarray(0, 1));
      case GgufType.INT8: b.writeInt8(Number(v)); return this.push(b.subarray(0, 1));
      case GgufType.UINT16: b.writeUInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case GgufType.INT16: b.writeInt16LE(Number(v)); return this.push(b.subarray(0, 2));
      case GgufType.UINT32: b.writeUInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case GgufType.INT32: b.writeInt32LE(Number(v)); return this.push(b.subarray(0, 4));
      case GgufType.FLOAT32: b.writeFloatLE(Number(v)); return this.push(b.subarray(0, 4));
      case GgufType.BOOL: b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case GgufType.STRING: return this.str(String(v));
      case GgufType.UINT64: b.writeBigUInt64LE(BigInt(v as number | bigint)); return this.push(b);
      case GgufType.INT64: b.writeBigInt64LE(BigInt(v as number | bigint)); return this.push(b);
      case GgufType.FLOAT64: b.writeDoubleLE(Number(v)); return this.push(b);
      default: throw new Error(`cannot write GGUF value type ${type}`);
    }
  }
  pad(alignment: number) {
    const rem = this.length % alignment;
    if (rem !== 0) this.push(Buffer.alloc(alignment - rem));
  }
}

/** Shorthands for metadata values. */
export const gguf = {
  u32: (value: number): GgufValue => ({ type: GgufType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufType.STRING, value }),
  strs: (value: string[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.STRING, value }),
  f32s: (value: number[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.FLOAT32, value }),
  i32s: (value: number[]): GgufValue => ({ type: GgufType.ARRAY, itemType: GgufType.INT32, value }),
};

export function writeGguf(path: string, kv: Map<string, GgufValue>, tensors: GgufTensor[]): void {
  const head = new ByteSink();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(kv.size);
  for (const [key, v] of kv) {
    head.str(key);
    head.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      head.u32(v.itemType);
      head.u64(v.value.length);
      for (const item of v.value) head.scalar(v.itemType, item);
    } else {
      head.scalar(v.type, v.value);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const elements = t.dims.reduce((a, b) => a * b, 1);
    if (typeof t.data !== "function" && elements !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims} do not match ${t.data.length} values`);
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GgmlType.F32);
    head.u64(offset);
    offsets.push(offset);
    offset += Math.ceil((elements * 4) / GGUF_DEFAULT_ALIGNMENT) * GGUF_DEFAULT_ALIGNMENT;
  }
  head.pad(GGUF_DEFAULT_ALIGNMENT);

  const fd = openSync(path, "w");
  try {
    for (const chunk of head.chunks) writeSync(fd, chunk);
    let written = 0;
    tensors.forEach((t, i) => {
      if (offsets[i]! > written) writeSync(fd, Buffer.alloc(offsets[i]! - written));
      const data = typeof t.data === "function" ? t.data() : t.data;
      if (data.length !== t.dims.reduce((a, b) => a * b, 1)) throw new Error(`tensor ${t.name}: dims ${t.dims} do not match ${data.length} values`);
      const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      for (let at = 0; at < bytes.length; at += 1 << 30) writeSync(fd, bytes.subarray(at, Math.min(bytes.length, at + (1 << 30))));
      written = offsets[i]! + bytes.length;
    });
    if (offset > written) writeSync(fd, Buffer.alloc(offset - written));
  } finally {
    closeSync(fd);
  }
}
