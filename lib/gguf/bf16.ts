// bfloat16 → float32 (Meta's checkpoints are BF16). Exact: a BF16 value is the top half of a float32's bits.

/** BF16 bytes (little-endian) → float32 values. */
export function decodeBf16(bytes: Uint8Array): Float32Array {
  if (bytes.byteLength % 2 !== 0) throw new RangeError(`BF16 data must be a whole number of 2-byte values, got ${bytes.byteLength} bytes`);
  const n = bytes.byteLength / 2;
  const out = new Float32Array(n);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) bits[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
  return out;
}
