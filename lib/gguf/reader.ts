// Reads a GGUF file's metadata (header and key/values), e.g. to take a vocabulary from one of
// llama.cpp's ggml-vocab-*.gguf files. Tensor data is not read.
import { readFileSync } from "node:fs";
import { GGUF_MAGIC, GgufType, type GgufScalar, type GgufValue } from "./types.js";

export interface GgufMetadata {
  version: number;
  tensorCount: bigint;
  kv: Map<string, GgufValue>;
}

export function readGgufMetadata(path: string): GgufMetadata {
  const buf = readFileSync(path);
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length) throw new Error(`${path}: truncated GGUF (needs ${n} bytes at offset ${at})`);
  };
  const u32 = () => (need(4), (at += 4), buf.readUInt32LE(at - 4));
  const u64 = () => (need(8), (at += 8), buf.readBigUInt64LE(at - 8));
  const str = () => {
    const len = Number(u64());
    need(len);
    at += len;
    return buf.toString("utf8", at - len, at);
  };
  const scalar = (type: GgufType): GgufScalar => {
    switch (type) {
      case GgufType.UINT8: return (need(1), (at += 1), buf.readUInt8(at - 1));
      case GgufType.INT8: return (need(1), (at += 1), buf.readInt8(at - 1));
      case GgufType.UINT16: return (need(2), (at += 2), buf.readUInt16LE(at - 2));
      case GgufType.INT16: return (need(2), (at += 2), buf.readInt16LE(at - 2));
      case GgufType.UINT32: return u32();
      case GgufType.INT32: return (need(4), (at += 4), buf.readInt32LE(at - 4));
      case GgufType.FLOAT32: return (need(4), (at += 4), buf.readFloatLE(at - 4));
      case GgufType.BOOL: return (need(1), (at += 1), buf.readUInt8(at - 1) !== 0);
      case GgufType.STRING: return str();
      case GgufType.UINT64: return u64();
      case GgufType.INT64: return (need(8), (at += 8), buf.readBigInt64LE(at - 8));
      case GgufType.FLOAT64: return (need(8), (at += 8), buf.readDoubleLE(at - 8));
      default: throw new Error(`${path}: unknown GGUF value type ${type}`);
    }
  };

  if (u32() !== GGUF_MAGIC) throw new Error(`${path}: not a GGUF file`);
  const version = u32();
  const tensorCount = u64();
  const kvCount = Number(u64());
  const kv = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = str();
    const type = u32() as GgufType;
    if (type === GgufType.ARRAY) {
      const itemType = u32() as Exclude<GgufType, GgufType.ARRAY>;
      const count = Number(u64());
      const value: GgufScalar[] = new Array(count);
      for (let j = 0; j < count; j++) value[j] = scalar(itemType);
      kv.set(key, { type, itemType, value });
    } else {
      kv.set(key, { type, value: scalar(type) } as GgufValue);
    }
  }
  return { version, tensorCount, kv };
}
