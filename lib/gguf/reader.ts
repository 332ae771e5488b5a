// Reads a GGUF file's header: version, key/values and the tensor table (names, dims, types, offsets), e.g.
// to take a vocabulary from one of llama.cpp's ggml-vocab-*.gguf files or to sniff a model before loading
// it. Only the header is read, in chunks at increasing offsets, so a 40 GB model costs a few reads.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { createError } from "../errors.js";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GgufType, ggmlTensorBytes, type GgufScalar, type GgufValue } from "./types.js";

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (row length). */
  dims: number[];
  /** ggml type number (GgmlType for the common ones). */
  type: number;
  /** Offset of the data from the start of the data section. */
  offset: number;
  /** Bytes of data, when the type's block layout is known. */
  byteLength?: number;
}

export interface GgufMetadata {
  version: number;
  tensorCount: bigint;
  kv: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  /** general.alignment, or the default 32. */
  alignment: number;
  /** Absolute file offset of the data section (the header's end, aligned). */
  dataOffset: number;
  fileSize: number;
}

// Reads start small (most headers are a few KB) and double up to 8 MiB (a 128k-token vocabulary is ~5 MB).
const FIRST_CHUNK = 1 << 16;
const MAX_CHUNK = 1 << 23;
// Smallest encoded size of one array item per value type: bounds a count before allocating for it.
const MIN_ITEM_BYTES: Record<number, number> = {
  [GgufType.UINT8]: 1, [GgufType.INT8]: 1, [GgufType.BOOL]: 1, [GgufType.UINT16]: 2, [GgufType.INT16]: 2,
  [GgufType.UINT32]: 4, [GgufType.INT32]: 4, [GgufType.FLOAT32]: 4, [GgufType.UINT64]: 8, [GgufType.INT64]: 8,
  [GgufType.FLOAT64]: 8, [GgufType.STRING]: 8,
};

/** A forward-only cursor over a file, reading it in chunks as the parser needs bytes. */
class HeaderCursor {
  private buf = Buffer.alloc(0);
  private chunk = FIRST_CHUNK;
  private bufStart = 0; // file offset of buf[0]
  at = 0; // file offset of the next byte to parse

  constructor(
    private readonly fd: number,
    readonly path: string,
    readonly size: number,
  ) {}

  private need(n: number): void {
    const end = this.at + n;
    if (end > this.size) throw invalid(this.path, `truncated header (needs ${n} bytes at offset ${this.at}, the file has ${this.size})`);
    if (end <= this.bufStart + this.buf.length) return;
    const length = Math.min(this.size - this.at, Math.max(n, this.chunk));
    this.chunk = Math.min(MAX_CHUNK, this.chunk * 2);
    const next = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const r = readSync(this.fd, next, got, length - got, this.at + got);
      if (r === 0) throw invalid(this.path, `truncated header (the file ended at offset ${this.at + got})`);
      got += r;
    }
    this.buf = next;
    this.bufStart = this.at;
  }

  private take(n: number): number {
    this.need(n);
    const i = this.at - this.bufStart;
    this.at += n;
    return i;
  }

  // take() may replace the buffer, so it runs before the buffer is read.
  private read(n: number, read: (buf: Buffer, i: number) => number): number {
    const i = this.take(n);
    return read(this.buf, i);
  }
  u8 = () => this.read(1, (b, i) => b.readUInt8(i));
  i8 = () => this.read(1, (b, i) => b.readInt8(i));
  u16 = () => this.read(2, (b, i) => b.readUInt16LE(i));
  i16 = () => this.read(2, (b, i) => b.readInt16LE(i));
  u32 = () => this.read(4, (b, i) => b.readUInt32LE(i));
  i32 = () => this.read(4, (b, i) => b.readInt32LE(i));
  f32 = () => this.read(4, (b, i) => b.readFloatLE(i));
  u64 = (): bigint => {
    const i = this.take(8);
    return this.buf.readBigUInt64LE(i);
  };
  i64 = (): bigint => {
    const i = this.take(8);
    return this.buf.readBigInt64LE(i);
  };
  f64 = () => this.read(8, (b, i) => b.readDoubleLE(i));

  /** A u64 that must fit a JS number and the bytes left in the file (a count or a length). */
  count(what: string, itemBytes: number): number {
    const at = this.at;
    const v = this.u64();
    if (v > BigInt(Math.floor((this.size - this.at) / Math.max(1, itemBytes)))) {
      throw invalid(this.path, `${what} of ${v} at offset ${at} does not fit in the file`);
    }
    return Number(v);
  }

  str(): string {
    const len = this.count("a string length", 1);
    const i = this.take(len);
    return this.buf.toString("utf8", i, i + len);
  }
}

function invalid(path: string, why: string) {
  return createError("INVALID_GGUF", `${path} is not a valid GGUF file: ${why}`);
}

function readScalar(c: HeaderCursor, type: GgufType): GgufScalar {
  switch (type) {
    case GgufType.UINT8: return c.u8();
    case GgufType.INT8: return c.i8();
    case GgufType.UINT16: return c.u16();
    case GgufType.INT16: return c.i16();
    case GgufType.UINT32: return c.u32();
    case GgufType.INT32: return c.i32();
    case GgufType.FLOAT32: return c.f32();
    case GgufType.BOOL: return c.u8() !== 0;
    case GgufType.STRING: return c.str();
    case GgufType.UINT64: return c.u64();
    case GgufType.INT64: return c.i64();
    case GgufType.FLOAT64: return c.f64();
    default: throw invalid(c.path, `unknown value type ${type} before offset ${c.at}`);
  }
}

export function readGgufMetadata(path: string): GgufMetadata {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw createError(code === "ENOENT" ? "MODEL_NOT_FOUND" : "INVALID_GGUF", `cannot open ${path}: ${(error as Error).message}`, error);
  }
  try {
    const size = fstatSync(fd).size;
    const c = new HeaderCursor(fd, path, size);
    if (size < 4 || c.u32() !== GGUF_MAGIC) throw createError("INVALID_GGUF", `${path}: not a GGUF file (no GGUF magic at the start)`);
    const version = c.u32();
    if (version < 2) throw invalid(path, `version ${version} is too old (2 or 3 is read)`);
    const tensorCount = c.u64();
    // A tensor entry takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
    if (tensorCount > BigInt(Math.floor(size / 24))) throw invalid(path, `a tensor count of ${tensorCount} does not fit in the file`);
    const kvCount = c.count("a key/value count", 13);
    const kv = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = c.str();
      const type = c.u32() as GgufType;
      if (type === GgufType.ARRAY) {
        const itemType = c.u32() as Exclude<GgufType, GgufType.ARRAY>;
        const minBytes = MIN_ITEM_BYTES[itemType];
        if (minBytes === undefined) throw invalid(path, `the array ${key} has an unknown item type ${itemType}`);
        const n = c.count(`the length of ${key}`, minBytes);
        const value: GgufScalar[] = new Array(n);
        for (let j = 0; j < n; j++) value[j] = readScalar(c, itemType);
        kv.set(key, { type, itemType, value });
      } else {
        kv.set(key, { type, value: readScalar(c, type) } as GgufValue);
      }
    }

    const alignmentValue = kv.get("general.alignment");
    const alignment = alignmentValue && alignmentValue.type !== GgufType.ARRAY ? Number(alignmentValue.value) : GGUF_DEFAULT_ALIGNMENT;
    if (!Number.isInteger(alignment) || alignment <= 0 || (alignment & (alignment - 1)) !== 0) throw invalid(path, `general.alignment ${alignment} is not a power of two`);

    const tensors: GgufTensorInfo[] = [];
    for (let i = 0n; i < tensorCount; i++) {
      const name = c.str();
      const nDims = c.u32();
      if (nDims < 1 || nDims > 4) throw invalid(path, `tensor ${name} has ${nDims} dimensions (1 to 4 are allowed)`);
      const dims: number[] = [];
      for (let d = 0; d < nDims; d++) {
        const n = c.u64();
        if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(path, `tensor ${name} has a dimension of ${n}`);
        dims.push(Number(n));
      }
      const type = c.u32();
      const offset = c.u64();
      if (offset > BigInt(size)) throw invalid(path, `tensor ${name} starts at data offset ${offset}, past the end of the file`);
      const byteLength = ggmlTensorBytes(type, dims);
      tensors.push({ name, dims, type, offset: Number(offset), ...(byteLength === undefined ? {} : { byteLength }) });
    }
    const dataOffset = Math.ceil(c.at / alignment) * alignment;
    return { version, tensorCount, kv, tensors, alignment, dataOffset, fileSize: size };
  } finally {
    closeSync(fd);
  }
}
