// Writes GGUF v3 files: typed metadata and F32, F16 or Q8_0 tensors whose values are given whole, made on
// demand, or streamed in chunks of whole rows (so a converter never holds a 2 GB tensor); or tensors of any
// ggml type whose bytes are already encoded (a re-quantizer's K-quants), streamed the same way. The file is
// written under a temporary name beside the target and renamed only when complete; any failure or abort
// removes it, so a file at the target path is always a whole GGUF.
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { AbortError, createError, StagebeamError, toStagebeamError } from "../errors.js";
import { encodeF16 } from "./f16.js";
import { encodeQ8_0, Q8_0_BLOCK_VALUES } from "./q8_0.js";
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VERSION, GgmlType, GgufType, ggmlTensorBytes, ggmlTypeName, type GgufScalar, type GgufValue } from "./types.js";

/** The tensor types the writer encodes from float32 values. */
export type GgufWriteType = GgmlType.F32 | GgmlType.F16 | GgmlType.Q8_0;

/** Float32 values in chunks of whole rows (any number of rows per chunk), in order. */
export type RowChunks = Iterable<Float32Array>;

export interface GgufTensor {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (row length). */
  dims: number[];
  /** How the values are stored (default F32). Q8_0 needs a row length that is a multiple of 32. */
  type?: GgufWriteType;
  /** The values; or a function making them when the tensor is written, whole or as row chunks (so a
   *  model of several GB is never in memory at once). */
  data: Float32Array | (() => Float32Array | RowChunks);
}

/**
 * A tensor whose bytes are encoded elsewhere (e.g. by ggml's quantizers through the addon): any ggml type
 * with a known block layout (GgmlType), made when the tensor is written as chunks of whole encoded rows.
 */
export interface GgufEncodedTensor {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (row length, a whole number of the type's blocks). */
  dims: number[];
  type: GgmlType;
  encoded: () => Iterable<Uint8Array>;
}

/** What the writer takes: float32 values it encodes, or bytes already encoded. */
export type GgufTensorSource = GgufTensor | GgufEncodedTensor;

function isEncoded(tensor: GgufTensorSource): tensor is GgufEncodedTensor {
  return "encoded" in tensor;
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

/** A growable little-endian byte buffer for the header (a 128k-token vocabulary is ~400k strings). */
class ByteSink {
  private buf = Buffer.allocUnsafe(1 << 16);
  length = 0;
  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  /** Reserves n bytes, then writes them (reserve may replace the buffer, so it runs first). */
  private put(n: number, write: (b: Buffer, at: number) => unknown): void {
    const at = this.reserve(n);
    write(this.buf, at);
  }
  /** The bytes written so far (a view; valid until the next write). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
  u32(v: number) {
    this.put(4, (b, at) => b.writeUInt32LE(v, at));
  }
  u64(v: bigint | number) {
    this.put(8, (b, at) => b.writeBigUInt64LE(BigInt(v), at));
  }
  str(s: string) {
    const n = Buffer.byteLength(s, "utf8");
    this.u64(n);
    this.put(n, (b, at) => b.write(s, at, n, "utf8"));
  }
  scalar(type: GgufType, v: GgufScalar) {
    switch (type) {
      case GgufType.UINT8: return this.put(1, (b, at) => b.writeUInt8(Number(v), at));
      case GgufType.INT8: return this.put(1, (b, at) => b.writeInt8(Number(v), at));
      case GgufType.UINT16: return this.put(2, (b, at) => b.writeUInt16LE(Number(v), at));
      case GgufType.INT16: return this.put(2, (b, at) => b.writeInt16LE(Number(v), at));
      case GgufType.UINT32: return this.put(4, (b, at) => b.writeUInt32LE(Number(v), at));
      case GgufType.INT32: return this.put(4, (b, at) => b.writeInt32LE(Number(v), at));
      case GgufType.FLOAT32: return this.put(4, (b, at) => b.writeFloatLE(Number(v), at));
      case GgufType.BOOL: return this.put(1, (b, at) => b.writeUInt8(v ? 1 : 0, at));
      case GgufType.STRING: return this.str(String(v));
      case GgufType.UINT64: return this.put(8, (b, at) => b.writeBigUInt64LE(BigInt(v as number | bigint), at));
      case GgufType.INT64: return this.put(8, (b, at) => b.writeBigInt64LE(BigInt(v as number | bigint), at));
      case GgufType.FLOAT64: return this.put(8, (b, at) => b.writeDoubleLE(Number(v), at));
      default: throw createError("INVALID_ARGUMENT", `cannot write GGUF value type ${type}`);
    }
  }
  pad(alignment: number) {
    const rem = this.length % alignment;
    if (rem === 0) return;
    const at = this.reserve(alignment - rem);
    this.buf.fill(0, at, at + alignment - rem);
  }
}

interface PlannedTensor {
  tensor: GgufTensorSource;
  type: GgmlType;
  /** Bytes of one row (encoded tensors: the unit a chunk must be a whole number of). */
  rowBytes: number;
  elements: number;
  bytes: number;
  offset: number;
}

interface GgufPlan {
  header: ByteSink;
  tensors: PlannedTensor[];
  /** Total file size. */
  size: number;
}

function planGguf(kv: Map<string, GgufValue>, tensors: GgufTensorSource[]): GgufPlan {
  const header = new ByteSink();
  header.u32(GGUF_MAGIC);
  header.u32(GGUF_VERSION);
  header.u64(tensors.length);
  header.u64(kv.size);
  for (const [key, v] of kv) {
    header.str(key);
    header.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      header.u32(v.itemType);
      header.u64(v.value.length);
      for (const item of v.value) header.scalar(v.itemType, item);
    } else {
      header.scalar(v.type, v.value);
    }
  }
  const names = new Set<string>();
  let offset = 0;
  const planned: PlannedTensor[] = [];
  for (const tensor of tensors) {
    const type = tensor.type ?? GgmlType.F32;
    if (names.has(tensor.name)) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name} is listed twice`);
    names.add(tensor.name);
    if (tensor.dims.length < 1 || tensor.dims.length > 4 || tensor.dims.some((d) => !Number.isInteger(d) || d < 1)) {
      throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: dims [${tensor.dims}] must be 1 to 4 positive integers`);
    }
    if (isEncoded(tensor)) {
      if (ggmlTensorBytes(type, [256]) === undefined) { // 256 is a whole number of blocks of every listed type
        throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: type ${type} has no known block layout`);
      }
    } else if (type !== GgmlType.F32 && type !== GgmlType.F16 && type !== GgmlType.Q8_0) {
      throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: the writer stores F32, F16 or Q8_0, not type ${type}`);
    }
    const bytes = ggmlTensorBytes(type, tensor.dims);
    if (bytes === undefined) {
      const blocks = isEncoded(tensor) ? `a whole number of ${ggmlTypeName(type)} blocks` : `a multiple of ${Q8_0_BLOCK_VALUES}`;
      throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: ${ggmlTypeName(type)} needs a row length that is ${blocks}, got ${tensor.dims[0]}`);
    }
    const rowBytes = ggmlTensorBytes(type, [tensor.dims[0]!])!;
    const elements = tensor.dims.reduce((a, b) => a * b, 1);
    header.str(tensor.name);
    header.u32(tensor.dims.length);
    for (const d of tensor.dims) header.u64(d);
    header.u32(type);
    header.u64(offset);
    planned.push({ tensor, type, rowBytes, elements, bytes, offset });
    offset += Math.ceil(bytes / GGUF_DEFAULT_ALIGNMENT) * GGUF_DEFAULT_ALIGNMENT;
  }
  header.pad(GGUF_DEFAULT_ALIGNMENT);
  return { header, tensors: planned, size: header.length + offset };
}

/** The size in bytes of the GGUF file these key/values and tensors make (no tensor data is made). */
export function ggufFileSize(kv: Map<string, GgufValue>, tensors: GgufTensorSource[]): number {
  return planGguf(kv, tensors).size;
}

/** The header (up to the aligned start of the data) of the GGUF file these key/values and tensors make. */
export function ggufHeaderBytes(kv: Map<string, GgufValue>, tensors: GgufTensorSource[]): Buffer {
  return Buffer.from(planGguf(kv, tensors).header.bytes());
}

function encode(values: Float32Array, type: GgmlType): Uint8Array {
  if (type === GgmlType.F16) return encodeF16(values);
  if (type === GgmlType.Q8_0) return encodeQ8_0(values);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}

/**
 * The writing itself, as a generator that yields the bytes written so far after every chunk: the sync
 * writer runs it straight through, the async one checks for abort and lets the event loop run between
 * chunks.
 */
function* writeChunks(fd: number, plan: GgufPlan): Generator<number, void> {
  const writeAll = (bytes: Uint8Array) => {
    for (let at = 0; at < bytes.length; at += 1 << 30) {
      const part = bytes.subarray(at, Math.min(bytes.length, at + (1 << 30)));
      let done = 0;
      while (done < part.length) done += writeSync(fd, part, done, part.length - done);
    }
  };
  writeAll(plan.header.bytes());
  let written = plan.header.length;
  const dataStart = plan.header.length;
  yield written;
  for (const p of plan.tensors) {
    const { tensor } = p;
    const start = dataStart + p.offset;
    if (start > written) writeAll(Buffer.alloc(start - written));
    written = start;
    if (isEncoded(tensor)) {
      let done = 0;
      for (const chunk of tensor.encoded()) {
        if (!(chunk instanceof Uint8Array)) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: an encoded chunk is not a Uint8Array`);
        if (chunk.length % p.rowBytes !== 0) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: an encoded chunk of ${chunk.length} bytes is not a whole number of ${p.rowBytes}-byte rows`);
        if (done + chunk.length > p.bytes) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: more bytes than dims [${tensor.dims}] of ${ggmlTypeName(p.type)} hold (${p.bytes})`);
        done += chunk.length;
        writeAll(chunk);
        written += chunk.length;
        yield written;
      }
      if (done !== p.bytes) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: dims [${tensor.dims}] of ${ggmlTypeName(p.type)} need ${p.bytes} bytes, got ${done}`);
      continue;
    }
    const made = typeof tensor.data === "function" ? tensor.data() : tensor.data;
    const chunks: RowChunks = made instanceof Float32Array ? [made] : made;
    const rowLength = tensor.dims[0]!;
    let values = 0;
    for (const chunk of chunks) {
      if (!(chunk instanceof Float32Array)) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: a chunk is not a Float32Array`);
      if (chunk.length % rowLength !== 0) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: a chunk of ${chunk.length} values is not a whole number of ${rowLength}-value rows`);
      if (values + chunk.length > p.elements) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: more values than dims [${tensor.dims}] hold (${p.elements})`);
      values += chunk.length;
      const bytes = encode(chunk, p.type);
      writeAll(bytes);
      written += bytes.length;
      yield written;
    }
    if (values !== p.elements) throw createError("INVALID_ARGUMENT", `tensor ${tensor.name}: dims [${tensor.dims}] need ${p.elements} values, got ${values}`);
  }
  if (plan.size > written) writeAll(Buffer.alloc(plan.size - written));
  yield plan.size;
}

export interface GgufWriteOptions {
  signal?: AbortSignal;
  /** Called after every chunk with the bytes written so far and the file's total size. */
  onProgress?: (bytesWritten: number, bytesTotal: number) => void;
}

/** A GGUF written completely under a temporary name: commit() renames it into place, discard() removes it. */
export interface StagedGguf {
  readonly path: string;
  readonly partialPath: string;
  readonly size: number;
  commit(): void;
  discard(): void;
}

function partialPathOf(path: string): string {
  return `${path}.${process.pid}.partial`;
}

function writeFailed(path: string, error: unknown): StagebeamError {
  if (error instanceof StagebeamError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  // Only the file system's errors are write failures; anything else is a bug to report as it is.
  if (typeof code !== "string" || typeof (error as NodeJS.ErrnoException).syscall !== "string") return toStagebeamError(error);
  const hint = code === "ENOSPC" ? ": the disk is full; free space or write elsewhere" : code === "ENOENT" ? ": its folder does not exist" : code === "EACCES" || code === "EPERM" ? ": permission denied" : "";
  return createError("WRITE_FAILED", `could not write ${path}${hint} (${(error as Error).message})`, error);
}

function openPartial(path: string): { fd: number; partialPath: string } {
  const partialPath = partialPathOf(path);
  try {
    return { fd: openSync(partialPath, "w"), partialPath };
  } catch (error) {
    throw writeFailed(path, error);
  }
}

function removeQuietly(path: string) {
  rmSync(path, { force: true });
}

function staged(path: string, partialPath: string, size: number): StagedGguf {
  let settled = false;
  return {
    path,
    partialPath,
    size,
    commit() {
      if (settled) return;
      try {
        renameSync(partialPath, path);
      } catch (error) {
        removeQuietly(partialPath);
        throw writeFailed(path, error);
      } finally {
        settled = true;
      }
    },
    discard() {
      if (settled) return;
      settled = true;
      removeQuietly(partialPath);
    },
  };
}

/** Writes a GGUF synchronously (small files: fixtures, tiny models). */
export function writeGguf(path: string, kv: Map<string, GgufValue>, tensors: GgufTensorSource[]): void {
  const plan = planGguf(kv, tensors);
  const { fd, partialPath } = openPartial(path);
  try {
    try {
      const steps = writeChunks(fd, plan);
      while (!steps.next().done);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    removeQuietly(partialPath);
    throw writeFailed(path, error);
  }
  staged(path, partialPath, plan.size).commit();
}

/**
 * Writes a GGUF under a temporary name without renaming it, yielding to the event loop between chunks
 * so that `signal` can abort it (the partial file is then removed and an AbortError thrown). Used to
 * write several files that must appear together.
 */
export async function stageGgufAsync(path: string, kv: Map<string, GgufValue>, tensors: GgufTensorSource[], options: GgufWriteOptions = {}): Promise<StagedGguf> {
  const plan = planGguf(kv, tensors);
  const { signal, onProgress } = options;
  if (signal?.aborted) throw new AbortError(`writing ${path} was aborted`, { cause: signal.reason });
  const { fd, partialPath } = openPartial(path);
  try {
    try {
      let lastYield = Date.now();
      for (const written of writeChunks(fd, plan)) {
        onProgress?.(written, plan.size);
        if (Date.now() - lastYield >= 20) {
          await new Promise((resolve) => setImmediate(resolve));
          lastYield = Date.now();
        }
        if (signal?.aborted) throw new AbortError(`writing ${path} was aborted`, { cause: signal.reason });
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    removeQuietly(partialPath);
    throw writeFailed(path, error);
  }
  return staged(path, partialPath, plan.size);
}

/** Writes a GGUF asynchronously, with progress and abort; the file appears at `path` only when complete. */
export async function writeGgufAsync(path: string, kv: Map<string, GgufValue>, tensors: GgufTensorSource[], options: GgufWriteOptions = {}): Promise<void> {
  (await stageGgufAsync(path, kv, tensors, options)).commit();
}
