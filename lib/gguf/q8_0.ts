// Q8_0 blocks, bit-exact with ggml's quantize_row_q8_0_ref (ggml-quants.c): per 32 values, a scale
// d = amax / 127 (float32) stored as F16, then q = roundf(x * id) with id = d ? 1/d : 0. Every step is a
// float32 operation in C; Math.fround after each double operation reproduces it exactly (for + - * / the
// double result rounded to float32 is the correctly rounded float32 result). roundf rounds halves away
// from zero, unlike Math.round.
import { fp16ToFp32, fp32BitsToFp16 } from "./f16.js";

export const Q8_0_BLOCK_VALUES = 32;
export const Q8_0_BLOCK_BYTES = 34;

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

function roundHalfAwayFromZero(x: number): number {
  return x < 0 ? -Math.floor(-x + 0.5) : Math.floor(x + 0.5);
}

/** Float32 values (a whole number of 32-value blocks) → Q8_0 blocks: F16 scale + 32 int8 each. */
export function encodeQ8_0(values: Float32Array): Uint8Array {
  if (values.length % Q8_0_BLOCK_VALUES !== 0) {
    throw new RangeError(`Q8_0 needs a multiple of ${Q8_0_BLOCK_VALUES} values, got ${values.length}`);
  }
  const blocks = values.length / Q8_0_BLOCK_VALUES;
  const out = new Uint8Array(blocks * Q8_0_BLOCK_BYTES);
  const q = new Int8Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const from = b * Q8_0_BLOCK_VALUES;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK_VALUES; j++) {
      const v = Math.abs(values[from + j]!);
      // MAX(amax, v) in C: a NaN v leaves amax as is only when the comparison is false, as here.
      amax = amax > v ? amax : v;
    }
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    scratch[0] = d;
    const h = fp32BitsToFp16(scratchBits[0]!);
    const at = b * Q8_0_BLOCK_BYTES;
    out[at] = h & 0xff;
    out[at + 1] = h >>> 8;
    for (let j = 0; j < Q8_0_BLOCK_VALUES; j++) {
      const x0 = Math.fround(values[from + j]! * id);
      // roundf of a finite block value lies in [-127, 127] (rounding of id can reach 127.00002).
      q[at + 2 + j] = Number.isFinite(x0) ? roundHalfAwayFromZero(x0) : 0;
    }
  }
  return out;
}

/** Q8_0 blocks → float32 values (d · q, as ggml's dequantize_row_q8_0). */
export function decodeQ8_0(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % Q8_0_BLOCK_BYTES !== 0) {
    throw new RangeError(`Q8_0 data must be a whole number of ${Q8_0_BLOCK_BYTES}-byte blocks, got ${bytes.byteLength} bytes`);
  }
  const blocks = bytes.byteLength / Q8_0_BLOCK_BYTES;
  const out = new Float32Array(blocks * Q8_0_BLOCK_VALUES);
  const q = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const at = b * Q8_0_BLOCK_BYTES;
    const d = fp16ToFp32(bytes[at]! | (bytes[at + 1]! << 8));
    for (let j = 0; j < Q8_0_BLOCK_VALUES; j++) out[b * Q8_0_BLOCK_VALUES + j] = Math.fround(q[at + 2 + j]! * d);
  }
  return out;
}
