// Llama 3.2 Vision (mllama) image preprocessing, matching transformers 5.18's MllamaImageProcessorPil byte for
// byte where it can (spec: architecture.md §1.4, errata b2–b5): RGBA composited on white; the tile grid chosen
// among the supported aspect ratios; the uint8 image resized with Pillow's bilinear filter to fit that grid;
// zero-padded bottom/right to the canvas; rescaled by 1/255 (float64, then float32) and normalised in float32;
// split into tiles row-major; the tile list padded with exact-zero tiles to maxTiles.
import { createError } from "../errors.js";
import { compositeOnWhite } from "./composite-on-white.js";
import { resizeBilinearRgb } from "./pil-resize.js";
import { aspectRatioId, optimalTiledCanvas, sizeFitToCanvas, type TileGrid } from "./tile-canvas.js";

export { supportedAspectRatios, type TileGrid } from "./tile-canvas.js";

/** Packed 8-bit pixels, rows top to bottom: RGB (3 bytes a pixel) or RGBA (4); told apart by data.length. */
export interface MllamaRawImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export interface MllamaPreprocessConfig {
  /** Tile side in pixels (preprocessor_config size.height = size.width): 560 for the released models. */
  tileSize: number;
  /** max_image_tiles: 4 for the released models. */
  maxTiles: number;
  /** image_mean and image_std, per RGB channel (CLIP's for the released models). */
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

export interface MllamaPreprocessed {
  /** [maxTiles, 3, tileSize, tileSize], channels first; tiles past realTiles are exact zeros. */
  pixels: Float32Array;
  /** 1-based index of the grid in supportedAspectRatios(maxTiles). */
  aspectRatioId: number;
  /** hTiles · wTiles: the leading tiles that hold the image (aspect_ratio_mask is 1 on these). */
  realTiles: number;
  canvas: TileGrid;
  /** The image's size after resizing, before padding to the canvas. */
  resized: { width: number; height: number };
}

/** transformers' rescale_factor: 1/255 as a Python float. */
const RESCALE = 1 / 255;

export function preprocessMllamaImage(image: MllamaRawImage, config: MllamaPreprocessConfig): MllamaPreprocessed {
  const { width, height, data } = image;
  const { tileSize, maxTiles, mean, std } = config;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw createError("INVALID_IMAGE", `image size must be positive integers, got ${width}×${height}`);
  }
  const channels = data.length / (width * height);
  if (channels !== 3 && channels !== 4) {
    throw createError("INVALID_IMAGE", `a ${width}×${height} image needs ${width * height * 3} (RGB) or ${width * height * 4} (RGBA) bytes, got ${data.length}`);
  }
  if (!Number.isInteger(tileSize) || tileSize < 1 || !Number.isInteger(maxTiles) || maxTiles < 1) {
    throw createError("INVALID_ARGUMENT", `tileSize and maxTiles must be positive integers, got ${tileSize} and ${maxTiles}`);
  }
  if (mean.length !== 3 || std.length !== 3 || std.some((s) => !(s > 0)) || mean.some((m) => !Number.isFinite(m))) {
    throw createError("INVALID_ARGUMENT", "mean and std must be three finite numbers each, std positive");
  }

  const rgb = channels === 4 ? compositeOnWhite(data) : data;
  const canvas = optimalTiledCanvas(width, height, maxTiles, tileSize);
  const resized = sizeFitToCanvas(width, height, canvas, tileSize);
  const resizedRgb = resizeBilinearRgb(rgb, width, height, resized.width, resized.height);

  // rescale: float64(u8) · (1/255), cast to float32; normalize: (x − mean) / std in float32 (numpy casts mean
  // and std to the image's float32). Padding pixels are u8 0, so they normalise to −mean/std, not 0.
  const f = Math.fround;
  const table = [0, 1, 2].map((c) => {
    const m = f(mean[c]), s = f(std[c]);
    const values = new Float32Array(256);
    for (let v = 0; v < 256; v++) values[v] = f(f(f(v * RESCALE) - m) / s);
    return values;
  });

  const realTiles = canvas.hTiles * canvas.wTiles;
  const tileArea = tileSize * tileSize;
  const pixels = new Float32Array(maxTiles * 3 * tileArea); // tiles past realTiles stay exact zeros
  for (let ty = 0; ty < canvas.hTiles; ty++) {
    // How much of this tile row / column the resized image covers; the rest is padding.
    const rows = Math.max(0, Math.min(tileSize, resized.height - ty * tileSize));
    for (let tx = 0; tx < canvas.wTiles; tx++) {
      const cols = Math.max(0, Math.min(tileSize, resized.width - tx * tileSize));
      const tileBase = (ty * canvas.wTiles + tx) * 3 * tileArea;
      for (let c = 0; c < 3; c++) {
        const values = table[c];
        const plane = pixels.subarray(tileBase + c * tileArea, tileBase + (c + 1) * tileArea);
        plane.fill(values[0]);
        for (let y = 0; y < rows; y++) {
          let src = ((ty * tileSize + y) * resized.width + tx * tileSize) * 3 + c;
          const dst = y * tileSize;
          for (let x = 0; x < cols; x++, src += 3) plane[dst + x] = values[resizedRgb[src]];
        }
      }
    }
  }
  return { pixels, aspectRatioId: aspectRatioId(canvas, maxTiles), realTiles, canvas, resized };
}
