// RGBA → RGB the way transformers' mllama processor does it: Image.alpha_composite over an opaque white
// background, then drop alpha (errata b5; Meta's reference drops alpha without compositing, so transparent
// black would stay black there). Pillow's AlphaComposite.c integer arithmetic, so the bytes match.

/** Fraction bits of Pillow's blend coefficients. */
const PRECISION_BITS = 7;

/** Pillow's SHIFTFORDIV255: a rounding-free x / 255 for the ranges used here (the rounding is added before). */
const shiftForDiv255 = (x: number) => ((x >>> 8) + x) >>> 8;

/** Packed RGBA (4 bytes a pixel) → packed RGB, each pixel composited over white. */
export function compositeOnWhite(rgba: Uint8Array): Uint8Array {
  const pixels = rgba.length / 4;
  const rgb = new Uint8Array(pixels * 3);
  const dst = 255; // the background: white, alpha 255
  for (let i = 0; i < pixels; i++) {
    const a = rgba[4 * i + 3];
    if (a === 0) {
      rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = dst;
      continue;
    }
    const blend = dst * (255 - a);
    const outA255 = a * 255 + blend;
    // a·255·255·128 reaches 2.1e9: beyond int32 but exact in a double, and C computes it in UINT32.
    const coef1 = Math.floor((a * 255 * 255 * (1 << PRECISION_BITS)) / outA255);
    const coef2 = 255 * (1 << PRECISION_BITS) - coef1;
    for (let c = 0; c < 3; c++) {
      const mixed = rgba[4 * i + c] * coef1 + dst * coef2;
      rgb[3 * i + c] = shiftForDiv255(mixed + (0x80 << PRECISION_BITS)) >>> PRECISION_BITS;
    }
  }
  return rgb;
}
