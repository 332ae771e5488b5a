// Reads Hugging Face safetensors checkpoints, single-file or sharded (model.safetensors.index.json): every
// header is validated up front (JSON, dtypes, shape × dtype size == byte range, ranges inside the file and
// non-overlapping, the data section fully accounted for), and tensors are streamed as float32 row chunks
// with positioned reads — an 11B checkpoint is 43 GB of F32 and embed_tokens alone is 2.1 GB, so nothing
// larger than a chunk is ever in memory. Format: u64 LE header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}} (offsets relative to the data after the header), data.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { endianness } from "node:os";
import { basename, isAbsolute, join, normalize } from "node:path";
import { createError, type StagebeamError } from "../errors.js";
import { decodeBf16 } from "../gguf/bf16.js";
import { decodeF16 } from "../gguf/f16.js";

const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, I64: 8, U64: 8, F64: 8,
};
/** The dtypes streamed as float32 (exactly: every F16/BF16 value is a float32; F64 is rounded). */
const FLOAT_DTYPES = new Set(["F32", "F16", "BF16", "F64"]);
// The safetensors library refuses headers over 100 MB; so do we, before allocating for one.
const MAX_HEADER_BYTES = 100_000_000;
const DEFAULT_CHUNK_BYTES = 16 << 20;
const MAX_READ = 1 << 30;

export interface SafetensorsTensor {
  name: string;
  dtype: string;
  /** Hugging Face (row-major) shape: the last dimension is the row. */
  shape: number[];
  /** The shard holding it. */
  file: string;
  /** Absolute byte position of its data in `file`. */
  position: number;
  byteLength: number;
}

function bad(message: string, cause?: unknown): StagebeamError {
  return createError("INVALID_CHECKPOINT", message, cause);
}

function readExactly(fd: number, file: string, target: Uint8Array, position: number, what: string): void {
  let done = 0;
  while (done < target.length) {
    const want = Math.min(MAX_READ, target.length - done);
    let got: number;
    try {
      got = readSync(fd, target, done, want, position + done);
    } catch (error) {
      throw bad(`cannot read ${what} from ${file}: ${(error as Error).message}`, error);
    }
    if (got === 0) throw bad(`${file} ended early while reading ${what} (at byte ${position + done}): the file is truncated; download it again`);
    done += got;
  }
}

/** Parses and validates one shard's header; returns its tensors with absolute positions, and its size. */
function readHeader(file: string): { tensors: SafetensorsTensor[]; size: number } {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch (error) {
    throw bad(`cannot open ${file}: ${(error as Error).message}`, error);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw bad(`${file} is not a safetensors file: it has ${size} bytes, less than the 8-byte header length`);
    const lengthBytes = Buffer.alloc(8);
    readExactly(fd, file, lengthBytes, 0, "the header length");
    const headerLength = lengthBytes.readBigUInt64LE(0);
    if (headerLength > BigInt(Math.min(MAX_HEADER_BYTES, size - 8))) {
      throw bad(`${file} is not a valid safetensors file: its header length ${headerLength} exceeds the file (${size} bytes) or 100 MB; the file is truncated or not safetensors`);
    }
    const headerBytes = Buffer.alloc(Number(headerLength));
    readExactly(fd, file, headerBytes, 8, "the header");
    let header: unknown;
    try {
      header = JSON.parse(headerBytes.toString("utf8"));
    } catch (error) {
      throw bad(`${file} has a header that is not valid JSON (${(error as Error).message}): the file is damaged; download it again`, error);
    }
    if (typeof header !== "object" || header === null || Array.isArray(header)) throw bad(`${file} has a header that is not a JSON object`);
    const dataStart = 8 + Number(headerLength);
    const dataLength = size - dataStart;
    const tensors: (SafetensorsTensor & { begin: number; end: number })[] = [];
    for (const [name, entry] of Object.entries(header)) {
      if (name === "__metadata__") continue;
      const where = `${file}: tensor ${name}`;
      if (typeof entry !== "object" || entry === null) throw bad(`${where} has no {dtype, shape, data_offsets} entry`);
      const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) throw bad(`${where} has an unknown dtype ${JSON.stringify(dtype)}`);
      if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`${where} has an invalid shape ${JSON.stringify(shape)}`);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
        throw bad(`${where} has invalid data_offsets ${JSON.stringify(offsets)}`);
      }
      const [begin, end] = offsets as [number, number];
      const expected = (shape as number[]).reduce((a, b) => a * b, 1) * DTYPE_BYTES[dtype]!;
      if (end - begin !== expected) {
        throw bad(`${where}: shape [${shape}] of ${dtype} needs ${expected} bytes but its data_offsets [${begin}, ${end}] span ${end - begin}; the header lies about its offsets`);
      }
      if (end > dataLength) {
        throw bad(`${where} ends at byte ${end} of the data but the file holds only ${dataLength} bytes of data: the file is truncated; download it again`);
      }
      tensors.push({ name, dtype, shape: shape as number[], file, position: dataStart + begin, byteLength: end - begin, begin, end });
    }
    tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
    let covered = 0;
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      if (i > 0 && t.begin < tensors[i - 1]!.end && t.byteLength > 0) {
        throw bad(`${file}: tensors ${tensors[i - 1]!.name} and ${t.name} overlap (data_offsets ${tensors[i - 1]!.begin}–${tensors[i - 1]!.end} and ${t.begin}–${t.end}); the header lies about its offsets`);
      }
      covered = Math.max(covered, t.end);
    }
    if (covered !== dataLength) {
      throw bad(`${file}: its header accounts for ${covered} bytes of data but the file holds ${dataLength}; the header and the file disagree (damaged or truncated file)`);
    }
    return { tensors: tensors.map(({ begin: _b, end: _e, ...t }) => t), size };
  } finally {
    closeSync(fd);
  }
}

/** A checkpoint's tensors across its shards; open file descriptors are kept until close(). */
export class SafetensorsCheckpoint {
  readonly tensors: ReadonlyMap<string, SafetensorsTensor>;
  readonly files: readonly string[];
  private readonly fds = new Map<string, number>();

  private constructor(
    readonly dir: string,
    files: string[],
    tensors: Map<string, SafetensorsTensor>,
    /** Each file's size when its header was checked. */
    private readonly sizes: Map<string, number>,
  ) {
    this.files = files;
    this.tensors = tensors;
  }

  /**
   * Opens the checkpoint in `dir`: model.safetensors.index.json and its shards, or model.safetensors.
   * Validates every header; throws INVALID_CHECKPOINT naming the file and tensor at fault.
   */
  static open(dir: string): SafetensorsCheckpoint {
    if (endianness() !== "LE") throw createError("INVALID_ARGUMENT", "reading safetensors needs a little-endian machine");
    const indexPath = join(dir, "model.safetensors.index.json");
    const singlePath = join(dir, "model.safetensors");
    const tensors = new Map<string, SafetensorsTensor>();
    const sizes = new Map<string, number>();
    const addFile = (file: string) => {
      const header = readHeader(file);
      sizes.set(file, header.size);
      for (const t of header.tensors) {
        const other = tensors.get(t.name);
        if (other) throw bad(`tensor ${t.name} is in both ${other.file} and ${t.file}`);
        tensors.set(t.name, t);
      }
    };
    if (existsSync(indexPath)) {
      let index: unknown;
      try {
        index = JSON.parse(readFileSync(indexPath, "utf8"));
      } catch (error) {
        throw bad(`${indexPath} is not valid JSON (${(error as Error).message})`, error);
      }
      const weightMap = (index as { weight_map?: unknown })?.weight_map;
      if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) throw bad(`${indexPath} has no weight_map object`);
      const entries = Object.entries(weightMap as Record<string, unknown>);
      const shards = [...new Set(entries.map(([name, shard]) => {
        if (typeof shard !== "string" || shard === "" || isAbsolute(shard) || normalize(shard).startsWith("..")) {
          throw bad(`${indexPath} maps tensor ${name} to ${JSON.stringify(shard)}, which is not a file name inside the checkpoint folder`);
        }
        return shard;
      }))].sort();
      for (const shard of shards) {
        const file = join(dir, shard);
        if (!existsSync(file)) throw bad(`shard ${shard} (listed in ${basename(indexPath)}) is missing from ${dir}: download it`);
        addFile(file);
      }
      for (const [name, shard] of entries) {
        const t = tensors.get(name);
        if (!t) throw bad(`tensor ${name} is listed in ${basename(indexPath)} for shard ${shard as string}, but that shard's header does not have it`);
        if (basename(t.file) !== basename(shard as string)) throw bad(`tensor ${name} is listed for shard ${shard as string} but is in ${basename(t.file)}`);
      }
      return new SafetensorsCheckpoint(dir, shards.map((s) => join(dir, s)), tensors, sizes);
    }
    if (existsSync(singlePath)) {
      addFile(singlePath);
      return new SafetensorsCheckpoint(dir, [singlePath], tensors, sizes);
    }
    throw bad(`${dir} has neither model.safetensors nor model.safetensors.index.json: only safetensors checkpoints can be converted`);
  }

  get(name: string): SafetensorsTensor {
    const t = this.tensors.get(name);
    if (!t) throw bad(`tensor ${name} is not in the checkpoint ${this.dir}`);
    return t;
  }

  private fd(file: string): number {
    let fd = this.fds.get(file);
    if (fd === undefined) {
      try {
        fd = openSync(file, "r");
      } catch (error) {
        throw bad(`cannot open ${file}: ${(error as Error).message}`, error);
      }
      this.fds.set(file, fd);
      // The file may have changed since its header was checked.
      if (fstatSync(fd).size !== this.sizes.get(file)) throw bad(`${file} changed size since its header was checked: is it still being downloaded?`);
    }
    return fd;
  }

  /** Elements per row (the last dimension; a 0-D tensor is one value). */
  rowLength(name: string): number {
    const t = this.get(name);
    return t.shape.length === 0 ? 1 : t.shape[t.shape.length - 1]!;
  }

  rowCount(name: string): number {
    const t = this.get(name);
    return t.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  }

  /** Raw bytes of a (small) tensor, as stored. */
  readBytes(name: string): Uint8Array {
    const t = this.get(name);
    const out = new Uint8Array(t.byteLength);
    readExactly(this.fd(t.file), t.file, out, t.position, `tensor ${name}`);
    return out;
  }

  /** Rows [firstRow, firstRow + count) of a tensor as float32. */
  readRows(name: string, firstRow: number, count: number): Float32Array {
    const t = this.get(name);
    if (!FLOAT_DTYPES.has(t.dtype)) throw bad(`tensor ${name} in ${t.file} is ${t.dtype}; only F32, F16, BF16 and F64 tensors can be converted`);
    const rowLength = this.rowLength(name);
    const rows = this.rowCount(name);
    if (!Number.isInteger(firstRow) || !Number.isInteger(count) || firstRow < 0 || count < 0 || firstRow + count > rows) {
      throw createError("INVALID_ARGUMENT", `rows ${firstRow}..${firstRow + count} are outside tensor ${name} (${rows} rows)`);
    }
    const size = DTYPE_BYTES[t.dtype]!;
    const n = count * rowLength;
    const position = t.position + firstRow * rowLength * size;
    const fd = this.fd(t.file);
    const what = `rows ${firstRow}..${firstRow + count} of tensor ${name}`;
    if (t.dtype === "F32") {
      const out = new Float32Array(n);
      readExactly(fd, t.file, new Uint8Array(out.buffer), position, what);
      return out;
    }
    const bytes = new Uint8Array(n * size);
    readExactly(fd, t.file, bytes, position, what);
    if (t.dtype === "F16") return decodeF16(bytes);
    if (t.dtype === "BF16") return decodeBf16(bytes);
    return Float32Array.from(new Float64Array(bytes.buffer));
  }

  /** A whole tensor as float32: for small tensors (norms, gates, biases) only. */
  read(name: string): Float32Array {
    return this.readRows(name, 0, this.rowCount(name));
  }

  /** Streams a tensor as float32 chunks of whole rows, about `chunkBytes` of float32 each (at least one row). */
  *rows(name: string, chunkBytes = DEFAULT_CHUNK_BYTES): Generator<Float32Array, void> {
    const rowLength = this.rowLength(name);
    const rows = this.rowCount(name);
    const perChunk = Math.max(1, Math.floor(chunkBytes / (Math.max(1, rowLength) * 4)));
    for (let first = 0; first < rows; first += perChunk) yield this.readRows(name, first, Math.min(perChunk, rows - first));
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
