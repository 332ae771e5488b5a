import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { AbortError, WriteError } from "../../lib/errors.js";
import { encodeF16 } from "../../lib/gguf/f16.js";
import { encodeQ8_0 } from "../../lib/gguf/q8_0.js";
import { readGgufMetadata } from "../../lib/gguf/reader.js";
import { GgmlType, GgufType } from "../../lib/gguf/types.js";
import { gguf, ggufFileSize, stageGgufAsync, writeGguf, writeGgufAsync } from "../../lib/gguf/writer.js";
import { seededRandom } from "../../lib/seeded-random.js";
import { fixturesDir, vocabPath } from "../fixtures/models.js";

test("metadata written is read back with its types", () => {
  mkdirSync(fixturesDir, { recursive: true });
  const path = join(fixturesDir, "roundtrip.gguf");
  const kv = new Map([
    ["a.u32", gguf.u32(7)],
    ["a.f32", gguf.f32(0.5)],
    ["a.bool", gguf.bool(true)],
    ["a.str", gguf.str("héllo")],
    ["a.strs", gguf.strs(["x", "yz", ""])],
    ["a.i32s", gguf.i32s([-1, 2, 3])],
  ]);
  writeGguf(path, kv, [{ name: "t", dims: [3, 2], data: new Float32Array([1, 2, 3, 4, 5, 6]) }]);
  const back = readGgufMetadata(path);
  expect(back.version).toBe(3);
  expect(back.tensorCount).toBe(1n);
  expect([...back.kv.entries()]).toEqual([...kv.entries()]);
  // header, padding to 32, one 24-byte tensor padded to 32
  expect(statSync(path).size % 32).toBe(0);
});

test("reads llama.cpp's vocabulary files", () => {
  const meta = readGgufMetadata(vocabPath("llama-spm"));
  const tokens = meta.kv.get("tokenizer.ggml.tokens")!;
  expect(tokens.type).toBe(GgufType.ARRAY);
  expect(tokens.value).toHaveLength(32000);
  expect(meta.kv.get("tokenizer.ggml.model")!.value).toBe("llama");
});

test("a file that is not GGUF is refused", () => {
  expect(() => readGgufMetadata(join(fixturesDir, "..", "..", "package.json"))).toThrow(/not a GGUF/);
});

describe("typed, streamed tensors", () => {
  const dir = join(fixturesDir, "writer");
  const random = seededRandom(3);
  const values = (n: number) => Float32Array.from({ length: n }, () => random() * 4 - 2);
  function* rows(data: Float32Array, rowLength: number, perChunk: number) {
    for (let at = 0; at < data.length; at += rowLength * perChunk) yield data.slice(at, Math.min(data.length, at + rowLength * perChunk));
  }
  const dataOf = (path: string, info: { offset: number; byteLength?: number }, dataOffset: number) =>
    new Uint8Array(readFileSync(path).subarray(dataOffset + info.offset, dataOffset + info.offset + info.byteLength!));

  test("F32, F16 and Q8_0 tensors from whole arrays and row chunks read back as written, 32-byte aligned", async () => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "typed.gguf");
    const a = values(3 * 5);
    const b = values(64 * 7);
    const c = values(96 * 3);
    const progress: number[] = [];
    await writeGgufAsync(
      path,
      new Map([["general.architecture", gguf.str("test")]]),
      [
        { name: "a", dims: [3, 5], data: a },
        { name: "b", dims: [64, 7], type: GgmlType.F16, data: () => rows(b, 64, 3) },
        { name: "c", dims: [96, 3], type: GgmlType.Q8_0, data: () => rows(c, 96, 1) },
      ],
      { onProgress: (done, total) => progress.push(done / total) },
    );
    const meta = readGgufMetadata(path);
    expect(meta.tensors.map((t) => [t.name, t.type, t.dims, t.byteLength])).toEqual([
      ["a", GgmlType.F32, [3, 5], 60],
      ["b", GgmlType.F16, [64, 7], 896],
      ["c", GgmlType.Q8_0, [96, 3], 306],
    ]);
    for (const t of meta.tensors) expect((meta.dataOffset + t.offset) % 32).toBe(0);
    expect(statSync(path).size).toBe(meta.dataOffset + 64 + 896 + 320);
    expect(new Float32Array(dataOf(path, meta.tensors[0]!, meta.dataOffset).slice().buffer)).toEqual(a);
    expect(dataOf(path, meta.tensors[1]!, meta.dataOffset)).toEqual(encodeF16(b));
    expect(dataOf(path, meta.tensors[2]!, meta.dataOffset)).toEqual(encodeQ8_0(c));
    expect(progress.at(-1)).toBe(1);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect(readdirSync(dir).filter((f) => f.includes("partial"))).toEqual([]);
  });

  test("the file size is known before any data is made", () => {
    const tensors = [{ name: "q", dims: [32, 2], type: GgmlType.Q8_0 as const, data: () => { throw new Error("not made"); } }];
    const kv = new Map([["k", gguf.u32(1)]]);
    const path = join(dir, "sized.gguf");
    expect(() => writeGguf(path, kv, tensors)).toThrow("not made");
    writeGguf(path, kv, [{ ...tensors[0]!, data: new Float32Array(64) }]);
    expect(ggufFileSize(kv, tensors)).toBe(statSync(path).size);
  });

  test.each([
    ["the producer fails", () => { throw new Error("disk on fire"); }, /disk on fire/],
    ["too few values", () => rows(values(64 * 2), 64, 1), /need 256 values, got 128/],
    ["too many values", () => rows(values(64 * 5), 64, 1), /more values than dims/],
    ["a chunk of part of a row", () => [values(10)], /not a whole number of 64-value rows/],
  ])("when %s, no file is left behind (not even a partial one)", async (_, data, message) => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "failed.gguf");
    rmSync(path, { force: true });
    const tensors = [
      { name: "first", dims: [64, 2], type: GgmlType.F16 as const, data: values(128) },
      { name: "second", dims: [64, 4], type: GgmlType.Q8_0 as const, data },
    ];
    await expect(writeGgufAsync(path, new Map(), tensors)).rejects.toThrow(message);
    expect(() => writeGguf(path, new Map(), tensors)).toThrow(message);
    expect(readdirSync(dir).filter((f) => f.startsWith("failed.gguf"))).toEqual([]);
  });

  test("an abort mid-file removes the partial file and throws ABORTED", async () => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "aborted.gguf");
    const controller = new AbortController();
    function* slow() {
      for (let i = 0; i < 1000; i++) {
        if (i === 3) setTimeout(() => controller.abort(), 0);
        const start = Date.now();
        while (Date.now() - start < 2); // a chunk that takes a while, as reading a shard does
        yield values(64);
      }
    }
    const error = await writeGgufAsync(path, new Map(), [{ name: "t", dims: [64, 1000], data: slow }], { signal: controller.signal }).catch((e) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect(error.code).toBe("ABORTED");
    expect(readdirSync(dir).filter((f) => f.startsWith("aborted.gguf"))).toEqual([]);
  });

  test("a staged file appears only on commit, and discard removes it", async () => {
    mkdirSync(dir, { recursive: true });
    const path = join(dir, "staged.gguf");
    rmSync(path, { force: true });
    const staged = await stageGgufAsync(path, new Map(), [{ name: "t", dims: [4], data: values(4) }]);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(staged.partialPath)).toBe(true);
    staged.commit();
    expect(existsSync(path)).toBe(true);
    const other = await stageGgufAsync(join(dir, "discarded.gguf"), new Map(), [{ name: "t", dims: [4], data: values(4) }]);
    other.discard();
    expect(readdirSync(dir).filter((f) => f.startsWith("discarded.gguf"))).toEqual([]);
  });

  test("Q8_0 with a row length that is not a multiple of 32 is refused before anything is written", () => {
    const path = join(dir, "bad-q8.gguf");
    expect(() => writeGguf(path, new Map(), [{ name: "t", dims: [48, 2], type: GgmlType.Q8_0, data: values(96) }])).toThrow(/multiple of 32/);
    expect(existsSync(path)).toBe(false);
  });

  test("a folder that does not exist is WRITE_FAILED", async () => {
    const error = await writeGgufAsync(join(dir, "no", "such", "x.gguf"), new Map(), []).catch((e) => e);
    expect(error).toBeInstanceOf(WriteError);
    expect(error.code).toBe("WRITE_FAILED");
    expect(error.message).toMatch(/folder does not exist/);
  });
});
