// The converter's encoders (TypeScript) against ggml's own: the bytes must be identical, so a GGUF the
// converter writes holds exactly what ggml's quantizer would have written from the same values.
import { describe, expect, it } from "vitest";
import { encodeF16 } from "../../lib/gguf/f16.js";
import { encodeQ8_0 } from "../../lib/gguf/q8_0.js";
import { nativeAddon } from "../../lib/native.js";
import { seededRandom } from "../../lib/seeded-random.js";

function values(n: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const kind = i % 64;
    // Ordinary values, exact halves of the quantization step, subnormals, zeros, large magnitudes.
    if (kind === 0) out[i] = 0;
    else if (kind === 1) out[i] = (random() - 0.5) * 1e-6;
    else if (kind === 2) out[i] = 6.1e-5 * (random() < 0.5 ? -1 : 1);
    else if (kind === 3) out[i] = (random() - 0.5) * 1.3e5;
    else if (kind === 4) out[i] = 0.5;
    else out[i] = (random() - 0.5) * 4;
  }
  // A whole block of zeros (Q8_0's d = 0 case) and a block of one repeated value.
  out.fill(0, 64, 96);
  out.fill(-2.75, 96, 128);
  return out;
}

describe("encoders match ggml byte for byte", () => {
  const data = values(32 * 1024, 7);

  it("F16 (round to nearest even, subnormals)", () => {
    expect(Buffer.from(encodeF16(data)).equals(Buffer.from(nativeAddon().encodeRows("f16", data, 256)))).toBe(true);
  });

  it("Q8_0 (quantize_row_q8_0_ref)", () => {
    expect(Buffer.from(encodeQ8_0(data)).equals(Buffer.from(nativeAddon().encodeRows("q8_0", data, 256)))).toBe(true);
  });

  it("refuses rows that are not whole blocks", () => {
    expect(() => nativeAddon().encodeRows("q8_0", new Float32Array(40), 20)).toThrow(/multiple of 32/);
    expect(() => nativeAddon().encodeRows("q9", new Float32Array(32), 32)).toThrow(/type must be/);
  });
});
