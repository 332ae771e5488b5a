// The GGUF reader reads headers only: on a 3 GB (sparse) file it reads a few bytes, never the data.
import * as fs from "node:fs";
import { closeSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { expect, test, vi } from "vitest";
import { readGgufMetadata } from "../../lib/gguf/reader.js";
import { GgmlType } from "../../lib/gguf/types.js";
import { gguf, ggufHeaderBytes, writeGguf } from "../../lib/gguf/writer.js";
import { fixturesDir, vocabPath } from "../fixtures/models.js";

// Count what the reader asks of the file system.
vi.mock("node:fs", async (importOriginal) => {
  const real = await importOriginal<typeof import("node:fs")>();
  return { ...real, readSync: vi.fn(real.readSync), readFileSync: vi.fn(real.readFileSync) };
});

test("reads the header of a 3 GB file without reading its data", () => {
  mkdirSync(fixturesDir, { recursive: true });
  const path = join(fixturesDir, "sparse-3gb.gguf");
  const kv = new Map([["general.architecture", gguf.str("llama")], ["general.name", gguf.str("sparse")]]);
  const big = { name: "big.weight", dims: [4096, 196608], type: GgmlType.F32 as const, data: () => new Float32Array(0) }; // 3 GiB of F32
  const small = { name: "small.weight", dims: [64, 2], type: GgmlType.Q8_0 as const, data: () => new Float32Array(0) };
  const header = ggufHeaderBytes(kv, [big, small]);
  const fd = openSync(path, "w");
  try {
    writeSync(fd, header);
    ftruncateSync(fd, header.length + 4096 * 196608 * 4 + 160); // sparse: no blocks for the data
  } finally {
    closeSync(fd);
  }
  try {
    vi.mocked(fs.readSync).mockClear();
    const meta = readGgufMetadata(path);
    const bytesRead = vi.mocked(fs.readSync).mock.calls.reduce((sum, call) => sum + Number((call as unknown[])[3] ?? 0), 0);
    expect(bytesRead).toBeLessThanOrEqual(65536); // the first chunk: the header and a little data
    expect(vi.mocked(fs.readFileSync)).not.toHaveBeenCalled();
    expect(meta.fileSize).toBeGreaterThan(3 * 2 ** 30);
    expect(meta.dataOffset).toBe(header.length);
    expect(meta.tensors).toEqual([
      { name: "big.weight", dims: [4096, 196608], type: GgmlType.F32, offset: 0, byteLength: 3 * 2 ** 30 },
      { name: "small.weight", dims: [64, 2], type: GgmlType.Q8_0, offset: 3 * 2 ** 30, byteLength: 136 },
    ]);
    expect(meta.kv.get("general.name")!.value).toBe("sparse");
  } finally {
    rmSync(path, { force: true });
  }
});

test("a large header (a 128k-token vocabulary) is read in several chunks", () => {
  vi.mocked(fs.readSync).mockClear();
  const meta = readGgufMetadata(vocabPath("llama-bpe"));
  expect(meta.kv.get("tokenizer.ggml.tokens")!.value).toHaveLength(128256);
  expect(meta.tensors).toEqual([]);
  expect(vi.mocked(fs.readSync).mock.calls.length).toBeGreaterThan(1);
});

test.each([
  ["truncated in the key/values", (b: Buffer) => b.subarray(0, 54), /truncated header/],
  ["a string length past the end", (b: Buffer) => (b.writeBigUInt64LE(1n << 40n, 24), b), /does not fit in the file/],
  ["an unknown value type", (b: Buffer) => (b.writeUInt32LE(99, 24 + 8 + "general.architecture".length), b), /unknown value type 99/],
])("a header with %s is INVALID_GGUF", (_, damage, message) => {
  const path = join(fixturesDir, "damaged.gguf");
  writeGguf(path, new Map([["general.architecture", gguf.str("llama")]]), [{ name: "t", dims: [4], data: new Float32Array(4) }]);
  fs.writeFileSync(path, damage(fs.readFileSync(path)));
  let error: unknown;
  try {
    readGgufMetadata(path);
  } catch (e) {
    error = e;
  }
  expect((error as { code: string }).code).toBe("INVALID_GGUF");
  expect((error as Error).message).toMatch(message);
});
