// The safetensors reader: values of every float dtype, sharded checkpoints, row streaming, positions past
// 4 GiB, and a typed INVALID_CHECKPOINT naming the file and tensor for every kind of damage.
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { SafetensorsCheckpoint } from "../../lib/mllama/safetensors.js";
import { fixturesDir } from "../fixtures/models.js";
import { encodeAs, writeSafetensors } from "./synthetic-checkpoint.js";

const root = join(fixturesDir, "safetensors");
let n = 0;
const freshDir = () => {
  const dir = join(root, `case-${n++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
};
const seq = (count: number, scale = 0.25) => Float32Array.from({ length: count }, (_, i) => (i - count / 2) * scale);

describe("reading", () => {
  test("F32, F16 and BF16 tensors read back as float32, whole and in row chunks", () => {
    const dir = freshDir();
    const a = encodeAs(seq(6 * 5), "F32");
    const b = encodeAs(seq(4 * 3, 0.1), "F16");
    const c = encodeAs(seq(7, 1.3), "BF16");
    writeSafetensors(join(dir, "model.safetensors"), [
      { name: "a", dtype: "F32", shape: [6, 5], bytes: a.bytes },
      { name: "b", dtype: "F16", shape: [2, 2, 3], bytes: b.bytes },
      { name: "c", dtype: "BF16", shape: [7], bytes: c.bytes },
    ]);
    const ckpt = SafetensorsCheckpoint.open(dir);
    try {
      expect([...ckpt.tensors.keys()].sort()).toEqual(["a", "b", "c"]);
      expect(ckpt.read("a")).toEqual(a.values);
      expect(ckpt.read("b")).toEqual(b.values);
      expect(ckpt.read("c")).toEqual(c.values);
      expect([ckpt.rowLength("b"), ckpt.rowCount("b")]).toEqual([3, 4]);
      expect(ckpt.readRows("a", 2, 3)).toEqual(a.values.subarray(10, 25));
      const chunks = [...ckpt.rows("a", 2 * 5 * 4)]; // two rows per chunk
      expect(chunks.map((x) => x.length)).toEqual([10, 10, 10]);
      expect(Float32Array.from(chunks.flatMap((x) => [...x]))).toEqual(a.values);
      expect([...ckpt.rows("a", 1)].length).toBe(6); // at least one row per chunk
    } finally {
      ckpt.close();
    }
  });

  test("a sharded checkpoint reads through its index", () => {
    const dir = freshDir();
    writeSafetensors(join(dir, "s1.safetensors"), [{ name: "x", dtype: "F32", shape: [2], bytes: encodeAs(seq(2), "F32").bytes }]);
    writeSafetensors(join(dir, "s2.safetensors"), [{ name: "y", dtype: "F32", shape: [3], bytes: encodeAs(seq(3), "F32").bytes }]);
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { x: "s1.safetensors", y: "s2.safetensors" } }));
    const ckpt = SafetensorsCheckpoint.open(dir);
    expect(ckpt.files.map((f) => f.split("/").pop())).toEqual(["s1.safetensors", "s2.safetensors"]);
    expect(ckpt.read("y")).toEqual(seq(3));
    ckpt.close();
  });

  test("reads at positions past 4 GiB (a sparse 5 GiB shard)", () => {
    const dir = freshDir();
    const big = 5 * 2 ** 30;
    const tail = encodeAs(seq(8, 0.5), "F32");
    const header: Record<string, unknown> = {
      filler: { dtype: "U8", shape: [big], data_offsets: [0, big] },
      tail: { dtype: "F32", shape: [2, 4], data_offsets: [big, big + 32] },
    };
    let json = JSON.stringify(header);
    while ((8 + json.length) % 8 !== 0) json += " ";
    const file = join(dir, "model.safetensors");
    const fd = openSync(file, "w");
    try {
      const length = Buffer.alloc(8);
      length.writeBigUInt64LE(BigInt(json.length));
      writeSync(fd, length);
      writeSync(fd, Buffer.from(json));
      ftruncateSync(fd, 8 + json.length + big);
      writeSync(fd, tail.bytes, 0, 32, 8 + json.length + big);
    } finally {
      closeSync(fd);
    }
    try {
      const ckpt = SafetensorsCheckpoint.open(dir);
      expect(ckpt.get("tail").position).toBeGreaterThan(2 ** 32);
      expect(ckpt.readRows("tail", 1, 1)).toEqual(tail.values.subarray(4, 8));
      expect(() => ckpt.read("filler")).toThrow(/U8; only F32, F16, BF16 and F64/);
      ckpt.close();
    } finally {
      rmSync(file, { force: true });
    }
  });
});

describe("damage is INVALID_CHECKPOINT naming the file and tensor", () => {
  const good = () => [
    { name: "w", dtype: "F32", shape: [2, 3], bytes: encodeAs(seq(6), "F32").bytes },
    { name: "v", dtype: "F16", shape: [4], bytes: encodeAs(seq(4), "F16").bytes },
  ];
  /** Writes a single-file checkpoint whose header is `edit`ed (JSON text) or whose bytes are `cut`. */
  function openDamaged(edit: (header: Record<string, any>) => void, cut?: (bytes: Buffer) => Buffer): unknown {
    const dir = freshDir();
    const file = join(dir, "model.safetensors");
    writeSafetensors(file, good());
    let bytes = readFileSync(file);
    const length = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + length).toString());
    edit(header);
    let json = JSON.stringify(header);
    while ((8 + json.length) % 8 !== 0) json += " ";
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    bytes = Buffer.concat([len, Buffer.from(json), bytes.subarray(8 + length)]);
    writeFileSync(file, cut ? cut(bytes) : bytes);
    try {
      SafetensorsCheckpoint.open(dir).close();
    } catch (error) {
      return error;
    }
    return undefined;
  }
  const expectBad = (error: unknown, message: RegExp) => {
    expect((error as { code?: string }).code).toBe("INVALID_CHECKPOINT");
    expect((error as Error).message).toMatch(/model\.safetensors/);
    expect((error as Error).message).toMatch(message);
  };

  test.each<[string, (h: Record<string, any>) => void, RegExp]>([
    ["an unknown dtype", (h) => (h.w.dtype = "F12"), /tensor w has an unknown dtype "F12"/],
    ["a shape that does not match the byte range", (h) => (h.w.shape = [3, 3]), /tensor w: shape \[3,3\] of F32 needs 36 bytes but .* span 24; the header lies/],
    ["overlapping ranges", (h) => (h.v.data_offsets = [16, 24]), /tensors w and v overlap/],
    ["a range past the end", (h) => (h.v.data_offsets = [28, 36]), /tensor v ends at byte 36 .* truncated/],
    ["a negative offset", (h) => (h.v.data_offsets = [-8, 0]), /tensor v has invalid data_offsets/],
    ["bytes the header does not account for", (h) => (h.v.shape = [2], (h.v.data_offsets = [24, 28])), /accounts for 28 bytes of data but the file holds 32/],
  ])("%s", (_, edit, message) => expectBad(openDamaged(edit), message));

  test("a truncated file", () => expectBad(openDamaged(() => {}, (b) => b.subarray(0, b.length - 3)), /tensor v ends at byte 32 .* holds only 29 .* truncated/));

  test("a header that is not JSON, and a header length beyond the file", () => {
    const dir = freshDir();
    const file = join(dir, "model.safetensors");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(8n);
    writeFileSync(file, Buffer.concat([len, Buffer.from("{not jso")]));
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/header that is not valid JSON/);
    len.writeBigUInt64LE(1n << 40n);
    writeFileSync(file, Buffer.concat([len, Buffer.from("{}")]));
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/header length 1099511627776 exceeds the file/);
  });

  test("a missing shard, a tensor missing from its shard, and a folder without weights", () => {
    const dir = freshDir();
    writeSafetensors(join(dir, "s1.safetensors"), good());
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { w: "s1.safetensors", z: "s2.safetensors" } }));
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/shard s2\.safetensors \(listed in model\.safetensors\.index\.json\) is missing/);
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { w: "s1.safetensors", z: "s1.safetensors" } }));
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/tensor z is listed .* but that shard's header does not have it/);
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ weight_map: { w: "../s1.safetensors" } }));
    expect(() => SafetensorsCheckpoint.open(dir)).toThrow(/not a file name inside the checkpoint folder/);
    const empty = freshDir();
    let error: unknown;
    try {
      SafetensorsCheckpoint.open(empty);
    } catch (e) {
      error = e;
    }
    expect((error as { code: string }).code).toBe("INVALID_CHECKPOINT");
    expect((error as Error).message).toMatch(/neither model\.safetensors nor model\.safetensors\.index\.json/);
  });
});
