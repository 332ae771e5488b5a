import { mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { readGgufMetadata } from "../../lib/gguf/reader.js";
import { GgufType } from "../../lib/gguf/types.js";
import { gguf, writeGguf } from "../../lib/gguf/writer.js";
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
