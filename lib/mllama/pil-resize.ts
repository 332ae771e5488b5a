// Pillow's bilinear resize of an 8-bit RGB image (Image.resize(size, BILINEAR), libImaging/Resample.c), which
// transformers' PIL image processors call on the uint8 image. Reproduced step for step so the output is the
// same bytes (errata b5): a separable convolution, horizontal pass first into an 8-bit intermediate, then
// vertical; a triangle filter whose support widens with the downscale factor (so downscaling antialiases);
// weights computed in double, normalised per output pixel, then rounded to 22-bit fixed point; each sum starts
// at one half and is shifted down and clamped to 0..255.

/** Fixed-point fraction bits of the 8-bit path: 32 − 8 − 2 (room for 8-bit values and overshoot). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output pixel along one axis: the first input index, how many inputs, and their fixed-point weights
 * (stride `taps`). */
interface AxisWeights {
  first: Int32Array;
  count: Int32Array;
  weights: Int32Array;
  taps: number;
}

/** precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter (support 1), box [0, inSize]. */
function axisWeights(inSize: number, outSize: number): AxisWeights {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1); // upscaling keeps the plain triangle; downscaling widens it
  const support = filterScale;
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const raw = new Float64Array(taps);
  const inverse = 1 / filterScale;
  for (let out = 0; out < outSize; out++) {
    const center = (out + 0.5) * scale;
    // C's (int) truncates toward zero; negatives are clamped to 0 right after, so trunc is exact here.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inSize);
    const n = hi - lo;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const x = Math.abs((i + lo - center + 0.5) * inverse);
      const w = x < 1 ? 1 - x : 0;
      raw[i] = w;
      total += w;
    }
    for (let i = 0; i < n; i++) {
      const w = total !== 0 ? raw[i] / total : raw[i];
      // (int)(0.5 + w · 2^22): w ≥ 0 for a triangle, so truncation is floor.
      weights[out * taps + i] = Math.trunc(0.5 + w * ONE);
    }
    first[out] = lo;
    count[out] = n;
  }
  return { first, count, weights, taps };
}

/** clip8: the arithmetic shift floors, then the lookup table clamps to 0..255. */
function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Resizes packed RGB (3 bytes a pixel, rows top to bottom) to outWidth × outHeight, as Pillow does. */
export function resizeBilinearRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (rgb.length !== width * height * 3) throw new RangeError(`${width}×${height} RGB needs ${width * height * 3} bytes, got ${rgb.length}`);
  if (outWidth === width && outHeight === height) return rgb.slice(); // Image.resize returns a copy
  const horizontal = axisWeights(width, outWidth);
  const vertical = axisWeights(height, outHeight);
  let src = rgb;
  let srcWidth = width;
  let rowOffset = 0; // the first source row the vertical pass reads, as Pillow crops its intermediate

  if (outWidth !== width) {
    // Only the rows the vertical pass will read (all of them when the height is unchanged).
    const firstRow = outHeight !== height ? vertical.first[0] : 0;
    const endRow = outHeight !== height ? vertical.first[outHeight - 1] + vertical.count[outHeight - 1] : height;
    const rows = endRow - firstRow;
    const out = new Uint8Array(outWidth * rows * 3);
    const { first, count, weights, taps } = horizontal;
    for (let y = 0; y < rows; y++) {
      const inRow = (y + firstRow) * width * 3;
      const outRow = y * outWidth * 3;
      for (let x = 0; x < outWidth; x++) {
        let r = HALF, g = HALF, b = HALF;
        const k = x * taps;
        const n = count[x];
        let p = inRow + first[x] * 3;
        // int32 throughout, as in C: |sum| < 2^31 (255 · 2^22 · Σw, Σw ≈ 1), and it keeps V8 off doubles.
        for (let i = 0; i < n; i++, p += 3) {
          const w = weights[k + i];
          r = (r + Math.imul(src[p], w)) | 0;
          g = (g + Math.imul(src[p + 1], w)) | 0;
          b = (b + Math.imul(src[p + 2], w)) | 0;
        }
        const o = outRow + x * 3;
        out[o] = clip8(r);
        out[o + 1] = clip8(g);
        out[o + 2] = clip8(b);
      }
    }
    src = out;
    srcWidth = outWidth;
    rowOffset = firstRow;
  }
  if (outHeight === height) return src;

  const out = new Uint8Array(srcWidth * outHeight * 3);
  const { first, count, weights, taps } = vertical;
  const stride = srcWidth * 3;
  const sums = new Int32Array(stride); // one output row, accumulated a source row at a time (sequential reads)
  for (let y = 0; y < outHeight; y++) {
    const k = y * taps;
    const top = (first[y] - rowOffset) * stride;
    sums.fill(HALF);
    for (let i = 0; i < count[y]; i++) {
      const w = weights[k + i];
      const row = top + i * stride;
      for (let c = 0; c < stride; c++) sums[c] = (sums[c] + Math.imul(src[row + c], w)) | 0;
    }
    const outRow = y * stride;
    for (let c = 0; c < stride; c++) out[outRow + c] = clip8(sums[c]);
  }
  return out;
}
