// IEEE half precision (ggml's F16), bit-exact with ggml: ggml_compute_fp32_to_fp16 (ggml-impl.h) rounds to
// nearest, ties to even, keeps subnormals, overflows to ±inf and turns every NaN into ±0x7E00. It does so
// with float tricks; integer arithmetic on the bits gives the same results and runs faster in JS.

/** The F16 bits of the float32 whose bits are `w` (an unsigned 32-bit integer). */
export function fp32BitsToFp16(w: number): number {
  const sign = (w >>> 16) & 0x8000;
  const exponent = (w >>> 23) & 0xff;
  const mantissa = w & 0x7fffff;
  if (exponent === 0xff) return sign | (mantissa !== 0 ? 0x7e00 : 0x7c00);
  const e = exponent - 127 + 15; // the exponent in F16's bias
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // F16 subnormal (or zero): shift the full significand right, rounding to nearest even. Below half the
    // smallest subnormal (2^-25) everything rounds to zero, float32 subnormals included.
    if (e < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = significand & ((1 << shift) - 1);
    let h = significand >>> shift;
    if (rest > half || (rest === half && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa moves into the exponent, which is the correct rounding (up to ±inf).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) !== 0)) h++;
  return sign | h;
}

/** The float32 value of F16 bits `h` (exact: every F16 is a float32). */
export function fp16ToFp32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >>> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** Float32 values → F16 bytes (little-endian), as ggml_fp32_to_fp16_row writes them. */
export function encodeF16(values: Float32Array): Uint8Array {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < bits.length; i++) out[i] = fp32BitsToFp16(bits[i]!);
  return new Uint8Array(out.buffer);
}

/** F16 bytes (little-endian) → float32 values. */
export function decodeF16(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 2 !== 0) throw new RangeError(`F16 data must be a whole number of 2-byte values, got ${bytes.byteLength} bytes`);
  const n = bytes.byteLength / 2;
  const out = new Float32Array(n);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < n; i++) out[i] = fp16ToFp32(view.getUint16(i * 2, true));
  return out;
}
