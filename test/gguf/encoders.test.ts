// F16, BF16 and Q8_0 encoders: bit-exact with ggml. Checked against llama.cpp's gguf-py (gguf.quants, whose
// Q8_0 is written to match quantize_row_q8_0_ref bit for bit) run with the system python3, and the F16
// encoder also against a line-by-line port of ggml_compute_fp32_to_fp16 on every F16 value and random bits.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { decodeBf16 } from "../../lib/gguf/bf16.js";
import { decodeF16, encodeF16, fp16ToFp32, fp32BitsToFp16 } from "../../lib/gguf/f16.js";
import { decodeQ8_0, encodeQ8_0 } from "../../lib/gguf/q8_0.js";
import { seededRandom } from "../../lib/seeded-random.js";
import { fixturesDir, llamaCppDir } from "../fixtures/models.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const fromBits = (w: number) => ((u32[0] = w >>> 0), f32[0]!);
const toBits = (x: number) => ((f32[0] = x), u32[0]!);

/** ggml_compute_fp32_to_fp16 (ggml-impl.h), transcribed with its float32 arithmetic. */
function ggmlFp32ToFp16(w: number): number {
  const f = fromBits(w);
  let base = Math.fround(Math.fround(Math.abs(f) * 2 ** 112) * 2 ** -110);
  const shl1 = (w << 1) >>> 0;
  const sign = (w & 0x80000000) >>> 0;
  let bias = (shl1 & 0xff000000) >>> 0;
  if (bias < 0x71000000) bias = 0x71000000;
  base = Math.fround(fromBits((bias >>> 1) + 0x07800000) + base);
  const bits = toBits(base);
  const nonsign = ((bits >>> 13) & 0x7c00) + (bits & 0xfff);
  return (sign >>> 16) | (shl1 > 0xff000000 ? 0x7e00 : nonsign);
}

/** Values with the edge cases of both formats, then random ones at several scales. */
function testValues(): Float32Array {
  const edge = [
    0, -0, 1, -1, 0.5, -0.5, 1.5, -2.5, 65504, -65504, 65519, 65520, -65520, 1e30, -3.4028234e38, 3.4028234e38,
    2 ** -14, 2 ** -15, 2 ** -24, -(2 ** -24), 2 ** -25, 3 * 2 ** -26, 2 ** -25 + 2 ** -40, 2 ** -26, 1e-45, -1e-40, 1.17549435e-38,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 2049, 2051, 4097, 0.1, 1 / 3, -2 / 3, 6.1e-5, 5.96e-8,
  ];
  // Q8_0 blocks (32 values): all zeros; amax 127 so that id = 1 and halves reach roundf directly; amax 63.5
  // (id = 2, x·id = ±0.5); scales whose F16 is subnormal or zero; one huge value among small ones.
  const blocks: number[][] = [
    new Array(32).fill(0),
    [127, -0.5, 0.5, 1.5, -1.5, 2.5, -2.5, 126.5, -126.5, ...Array.from({ length: 23 }, (_, i) => i - 11.5)],
    [63.5, -0.25, 0.25, 0.75, -0.75, 1.25, ...Array.from({ length: 26 }, (_, i) => (i - 13) * 0.25)],
    Array.from({ length: 32 }, (_, i) => (i - 16) * 1e-6),
    Array.from({ length: 32 }, (_, i) => (i - 16) * 1e-9),
    Array.from({ length: 32 }, (_, i) => (i % 7) * 1e-37),
    [3e38, ...Array.from({ length: 31 }, (_, i) => i * 1e-3)],
    Array.from({ length: 32 }, () => -7),
  ];
  const random = seededRandom(20240925);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const values: number[] = [...edge];
  while (values.length % 32 !== 0) values.push(0);
  for (const b of blocks) values.push(...b);
  for (const scale of [1e-6, 1e-3, 0.02, 1, 30, 1e4]) {
    for (let i = 0; i < 1024; i++) values.push(gaussian() * scale);
  }
  return new Float32Array(values);
}

describe("F16", () => {
  test("equals ggml_compute_fp32_to_fp16 on every F16 value, every rounding boundary and random bits", () => {
    const random = seededRandom(7);
    const mismatches: string[] = [];
    const check = (w: number) => {
      const ours = fp32BitsToFp16(w >>> 0);
      const ggml = ggmlFp32ToFp16(w >>> 0);
      if (ours !== ggml && mismatches.length < 5) mismatches.push(`0x${(w >>> 0).toString(16)}: ${ours.toString(16)} vs ggml ${ggml.toString(16)}`);
    };
    for (let h = 0; h < 0x10000; h++) {
      const w = toBits(fp16ToFp32(h));
      for (const d of [-1, 0, 1, 0x1000, 0x0fff, 0x1001, -0x1000]) check(w + d);
    }
    for (let i = 0; i < 300_000; i++) check(Math.floor(random() * 2 ** 32));
    for (const w of [0x7f800000, 0xff800000, 0x7fc00000, 0xffc00001, 0x7f800001]) check(w); // ±inf, NaNs
    expect(mismatches).toEqual([]);
  });

  test("round-trips every finite F16 value", () => {
    const all = new Uint16Array(0x10000).map((_, i) => i).filter((h) => (h & 0x7c00) !== 0x7c00);
    const values = decodeF16(new Uint8Array(all.buffer));
    expect([...new Uint16Array(encodeF16(values).buffer)]).toEqual([...all]);
  });
});

test("BF16 → F32 is the top half of the bits", () => {
  const values = new Float32Array([1, -2.5, 3.140625, 0, -0, 1e-40, 65504]);
  const bf16 = new Uint8Array(values.length * 2);
  new Uint32Array(values.buffer).forEach((w, i) => {
    bf16[2 * i] = (w >>> 16) & 0xff;
    bf16[2 * i + 1] = w >>> 24;
  });
  const back = decodeBf16(bf16);
  new Uint32Array(back.buffer).forEach((w, i) => expect(w).toBe((toBits(values[i]!) & 0xffff0000) >>> 0));
});

test("Q8_0 rounds halves away from zero and stores d as F16", () => {
  const block = new Float32Array(32);
  block.set([127, 0.5, -0.5, 1.5, -2.5]);
  const q = encodeQ8_0(block);
  expect(q.length).toBe(34);
  expect(q[0] | (q[1]! << 8)).toBe(0x3c00); // d = 1
  expect([...new Int8Array(q.buffer, 2, 5)]).toEqual([127, 1, -1, 2, -3]);
  expect(decodeQ8_0(q).subarray(0, 5)).toEqual(new Float32Array([127, 1, -1, 2, -3]));
  expect(() => encodeQ8_0(new Float32Array(31))).toThrow(RangeError);
});

// gguf-py needs numpy; the system python3 has it on the project's machines. Locally without it the test
// is skipped with a warning; under CI it fails instead.
const python = spawnSync("python3", ["-c", "import numpy, sys; sys.path.insert(0, sys.argv[1]); import gguf.quants", join(llamaCppDir, "gguf-py")], { encoding: "utf8" });
const havePython = python.status === 0;
if (!havePython) {
  const why = python.error ? String(python.error) : python.stderr.trim().split("\n").pop();
  if (process.env.CI) test("python3 with numpy and llama.cpp/gguf-py is available (CI)", () => expect.fail(`python3/numpy/gguf-py missing: ${why}`));
  else console.warn(`skipping the gguf-py bit-exactness checks: python3 with numpy and llama.cpp/gguf-py is needed (${why})`);
}

test.skipIf(!havePython)("F16 and Q8_0 bytes equal gguf-py's gguf.quants.quantize", () => {
  const values = testValues();
  expect(values.length).toBeGreaterThan(6000);
  const dir = join(fixturesDir, "encoders");
  mkdirSync(dir, { recursive: true });
  const input = join(dir, "values.f32");
  writeFileSync(input, new Uint8Array(values.buffer));
  const script = `
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from gguf.quants import quantize
from gguf.constants import GGMLQuantizationType as T
x = np.fromfile(sys.argv[2], dtype=np.float32)
with np.errstate(all="ignore"):
    quantize(x, T.F16).tofile(sys.argv[2] + ".f16")
    quantize(x.reshape(-1, 32), T.Q8_0).tofile(sys.argv[2] + ".q8_0")
`;
  const run = spawnSync("python3", ["-c", script, join(llamaCppDir, "gguf-py"), input], { encoding: "utf8" });
  expect(run.stderr).toBe("");
  expect(run.status).toBe(0);
  const same = (ours: Uint8Array, theirs: Buffer, blockBytes: number) => {
    expect(ours.length).toBe(theirs.length);
    for (let i = 0; i < ours.length; i++) {
      if (ours[i] !== theirs[i]) {
        const b = Math.floor(i / blockBytes);
        expect.fail(`byte ${i} (block ${b}, values ${[...values.subarray(b * (blockBytes === 34 ? 32 : 1), (b + 1) * (blockBytes === 34 ? 32 : 1))].slice(0, 4)}…): ours ${ours[i]} vs gguf-py ${theirs[i]}`);
      }
    }
  };
  same(encodeF16(values), readFileSync(`${input}.f16`), 2);
  same(encodeQ8_0(values), readFileSync(`${input}.q8_0`), 34);
});
