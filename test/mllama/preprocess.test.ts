// mllama image preprocessing (lib/mllama/preprocess.ts) against transformers 5.18's MllamaImageProcessorPil
// (test/fixtures/mllama/make_preprocess_cases.py): canvas, ids, mask and sizes exact; Pillow's bilinear resize
// and the normalised pixels measured per case (spec: plan.md §6.3 preprocessing rows, errata b2–b5). The unit
// tests at the top need no Python; the reference half skips (with a warning) where the venv cannot be made,
// except under CI.
import { afterAll, describe, expect, test } from "vitest";
import { compositeOnWhite } from "../../lib/mllama/composite-on-white.js";
import { resizeBilinearRgb } from "../../lib/mllama/pil-resize.js";
import { preprocessMllamaImage, supportedAspectRatios, type MllamaPreprocessConfig } from "../../lib/mllama/preprocess.js";
import { aspectRatioId, optimalTiledCanvas, sizeFitToCanvas } from "../../lib/mllama/tile-canvas.js";
import { StagebeamError } from "../../lib/errors.js";
import { preprocessReference, readPreprocessTensor, type PreprocessReference } from "../fixtures/mllama/preprocess-reference.js";

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;
const tiny: MllamaPreprocessConfig = { tileSize: 28, maxTiles: 4, mean: CLIP_MEAN, std: CLIP_STD };

/** One uint8 step after normalisation with the smallest std (plan §6.3). */
const ONE_STEP = 0.0151;

function grid(width: number, height: number, tile = 28) {
  const canvas = optimalTiledCanvas(width, height, 4, tile);
  return { canvas, resized: sizeFitToCanvas(width, height, canvas, tile), id: aspectRatioId(canvas, 4) };
}

function solid(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return data;
}

describe("tile grid rules (HF get_optimal_tiled_canvas / get_image_size_fit_to_canvas)", () => {
  test("the supported list for 4 tiles, as (h_tiles, w_tiles), in HF order", () => {
    expect(supportedAspectRatios(4).map((g) => [g.hTiles, g.wTiles])).toEqual([
      [1, 1], [1, 2], [1, 3], [1, 4], [2, 1], [2, 2], [3, 1], [4, 1],
    ]);
    expect(supportedAspectRatios(1).map((g) => [g.hTiles, g.wTiles])).toEqual([[1, 1]]);
  });

  test("ids (errata b4): W56×H28 → 2, W28×H56 → 5, W112×H28 → 4, W28×H112 → 8, 2×2 → 6", () => {
    expect(grid(56, 28).id).toBe(2);
    expect(grid(28, 56).id).toBe(5);
    expect(grid(112, 28).id).toBe(4);
    expect(grid(28, 112).id).toBe(8);
    expect(grid(56, 56).id).toBe(6);
    expect(grid(28, 28).id).toBe(1);
  });

  test("errata b2: images that fit between one tile and the canvas are not resized", () => {
    expect(grid(40, 23)).toEqual({ canvas: { hTiles: 1, wTiles: 2 }, resized: { width: 40, height: 23 }, id: 2 });
    expect(grid(29, 29)).toEqual({ canvas: { hTiles: 2, wTiles: 2 }, resized: { width: 29, height: 29 }, id: 6 });
    expect(grid(800, 600, 560)).toEqual({ canvas: { hTiles: 2, wTiles: 2 }, resized: { width: 800, height: 600 }, id: 6 });
  });

  test("errata b2: 20×15 is upscaled to 28×21; 300×10 becomes 112×3 on 1×4", () => {
    expect(grid(20, 15)).toEqual({ canvas: { hTiles: 1, wTiles: 1 }, resized: { width: 28, height: 21 }, id: 1 });
    expect(grid(300, 10)).toEqual({ canvas: { hTiles: 1, wTiles: 4 }, resized: { width: 112, height: 3 }, id: 4 });
    expect(grid(100, 37)).toEqual({ canvas: { hTiles: 1, wTiles: 3 }, resized: { width: 75, height: 28 }, id: 3 });
  });

  test("the minimum side is 1 pixel", () => {
    expect(grid(10000, 1).resized).toEqual({ width: 112, height: 1 });
    expect(grid(1, 10000).resized).toEqual({ width: 1, height: 112 });
  });

  test("equal scales: the first grid of smallest area wins (errata b3)", () => {
    // 14×14: every grid but 2×2 has scale 2, the least upscale; 1×1 is the smallest of them.
    expect(optimalTiledCanvas(14, 14, 4, 28)).toEqual({ hTiles: 1, wTiles: 1 });
    // 56×28 (W×H): 1×2, 1×3, 1×4 and 2×2 all have scale 1; 1×2 has the smallest area.
    expect(optimalTiledCanvas(56, 28, 4, 28)).toEqual({ hTiles: 1, wTiles: 2 });
  });
});

describe("pixels without Python", () => {
  test("tiles past the real ones are exact zeros; padding inside a real tile is −mean/std", () => {
    const out = preprocessMllamaImage({ width: 40, height: 23, data: solid(40, 23, [10, 20, 30]) }, tiny);
    expect(out.realTiles).toBe(2);
    expect(out.pixels.length).toBe(4 * 3 * 28 * 28);
    const tile = 3 * 28 * 28;
    expect(out.pixels.subarray(2 * tile).every((v) => Object.is(v, 0))).toBe(true);
    // Tile 0 holds image columns 0..27 and rows 0..22; row 23 onwards is padding (u8 0).
    const f = Math.fround;
    const expected = (v: number, c: number) => f(f(f(v / 255) - f(CLIP_MEAN[c])) / f(CLIP_STD[c]));
    for (let c = 0; c < 3; c++) {
      expect(out.pixels[c * 784 + 0]).toBe(expected([10, 20, 30][c], c));
      expect(out.pixels[c * 784 + 23 * 28]).toBe(expected(0, c));
      // Tile 1: columns 28..55, of which 28..39 are image.
      expect(out.pixels[tile + c * 784 + 11]).toBe(expected([10, 20, 30][c], c));
      expect(out.pixels[tile + c * 784 + 12]).toBe(expected(0, c));
    }
  });

  test("tiles are row-major: tile 1 of a 2×2 grid is the top right", () => {
    const data = new Uint8Array(56 * 56 * 3);
    for (let y = 0; y < 56; y++) for (let x = 0; x < 56; x++) data[(y * 56 + x) * 3] = (y >= 28 ? 2 : 0) + (x >= 28 ? 1 : 0);
    const out = preprocessMllamaImage({ width: 56, height: 56, data }, tiny);
    const red = [0, 1, 2, 3].map((t) => out.pixels[t * 3 * 784]);
    expect(new Set(red).size).toBe(4);
    expect([...red].sort((a, b) => a - b)).toEqual(red); // red value 0, 1, 2, 3 in tile order
  });

  test("transparent pixels become white; opaque ones keep their colour (errata b5)", () => {
    expect([...compositeOnWhite(new Uint8Array([0, 0, 0, 0, 10, 20, 30, 255, 0, 0, 0, 128]))]).toEqual([
      255, 255, 255, 10, 20, 30, 127, 127, 127,
    ]);
  });

  test("a same-size resize is a copy", () => {
    const rgb = solid(5, 4, [1, 2, 3]);
    const copy = resizeBilinearRgb(rgb, 5, 4, 5, 4);
    expect(copy).toEqual(rgb);
    expect(copy).not.toBe(rgb);
  });

  test("a resize keeps a constant image constant", () => {
    expect(resizeBilinearRgb(solid(97, 61, [200, 100, 7]), 97, 61, 56, 35)).toEqual(solid(56, 35, [200, 100, 7]));
    expect(resizeBilinearRgb(solid(13, 7, [0, 255, 128]), 13, 7, 28, 15)).toEqual(solid(28, 15, [0, 255, 128]));
  });

  test("bad input is INVALID_IMAGE / INVALID_ARGUMENT", () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(StagebeamError);
        return (error as StagebeamError).code;
      }
      return "no error";
    };
    expect(codeOf(() => preprocessMllamaImage({ width: 4, height: 4, data: new Uint8Array(47) }, tiny))).toBe("INVALID_IMAGE");
    expect(codeOf(() => preprocessMllamaImage({ width: 0, height: 4, data: new Uint8Array(0) }, tiny))).toBe("INVALID_IMAGE");
    expect(codeOf(() => preprocessMllamaImage({ width: 2, height: 2, data: new Uint8Array(12) }, { ...tiny, maxTiles: 0 }))).toBe("INVALID_ARGUMENT");
    expect(codeOf(() => preprocessMllamaImage({ width: 2, height: 2, data: new Uint8Array(12) }, { ...tiny, std: [0.2, 0, 0.2] }))).toBe("INVALID_ARGUMENT");
  });
});

// ---------------------------------------------------------------- against transformers

const ref: PreprocessReference | null = await preprocessReference();

interface Measured {
  case: string;
  size: string;
  resized: string;
  resizeExact: string;
  resizeMaxDiff: number;
  pixelsExact: string;
  pixelsMaxDiff: string;
  ms: string;
}
const measured: Measured[] = [];

afterAll(() => {
  if (measured.length > 0) console.table(measured);
});

const percent = (n: number, of: number) => (of === 0 ? 100 : (100 * n) / of);

describe.skipIf(!ref)("against MllamaImageProcessorPil (transformers 5.18, Pillow 12.3)", () => {
  const r = ref!;

  test("canvas, fitted size and id over ~100k sizes and tile budgets 1–8 (errata b2, b3)", () => {
    const { rows, columns } = r.manifest.grid_sweep;
    expect(columns).toEqual(["width", "height", "max_tiles", "tile", "h_tiles", "w_tiles", "new_height", "new_width", "aspect_ratio_id"]);
    const table = readPreprocessTensor(r, rows) as Int32Array;
    const mismatches: string[] = [];
    for (let i = 0; i < table.length; i += 9) {
      const [width, height, maxTiles, tile, hTiles, wTiles, newHeight, newWidth, id] = table.subarray(i, i + 9);
      const canvas = optimalTiledCanvas(width, height, maxTiles, tile);
      const fitted = sizeFitToCanvas(width, height, canvas, tile);
      const got = [canvas.hTiles, canvas.wTiles, fitted.height, fitted.width, aspectRatioId(canvas, maxTiles)];
      const want = [hTiles, wTiles, newHeight, newWidth, id];
      if (got.some((v, j) => v !== want[j])) mismatches.push(`${width}×${height} max ${maxTiles} tile ${tile}: got ${got}, HF ${want}`);
    }
    expect(table.length / 9).toBeGreaterThan(100_000);
    expect(mismatches.slice(0, 10)).toEqual([]);
  });
  test.each(Object.keys(r?.manifest.cases ?? {}))("%s", (name) => {
    const c = r.manifest.cases[name]!;
    const input = readPreprocessTensor(r, c.input) as Uint8Array;
    const config: MllamaPreprocessConfig = { tileSize: c.tile_size, maxTiles: c.max_tiles, mean: r.manifest.mean, std: r.manifest.std };

    const start = performance.now();
    const out = preprocessMllamaImage({ width: c.width, height: c.height, data: input }, config);
    const ms = performance.now() - start;

    // Grid, ids, mask, sizes: exact.
    expect(out.canvas).toEqual({ hTiles: c.canvas.h_tiles, wTiles: c.canvas.w_tiles });
    expect(out.resized).toEqual(c.resized);
    expect(out.realTiles).toBe(c.num_tiles);
    expect([out.aspectRatioId]).toEqual([...(readPreprocessTensor(r, c.aspect_ratio_ids) as Int32Array)]);
    const mask = Array.from({ length: c.max_tiles }, (_, i) => (i < out.realTiles ? 1 : 0));
    expect(mask).toEqual([...(readPreprocessTensor(r, c.aspect_ratio_mask) as Int32Array)]);

    // RGBA: the composite on white is exact.
    const rgb = c.rgb ? (readPreprocessTensor(r, c.rgb) as Uint8Array) : input;
    if (c.rgb) expect(Buffer.from(compositeOnWhite(input)).equals(Buffer.from(rgb))).toBe(true);

    // Resize alone, on the processor's own RGB: ≥ 99% exact and never off by more than 1.
    const want = readPreprocessTensor(r, c.resized_pixels) as Uint8Array;
    const got = resizeBilinearRgb(rgb, c.width, c.height, c.resized.width, c.resized.height);
    expect(got.length).toBe(want.length);
    let resizeExact = 0;
    let resizeMaxDiff = 0;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i]! - want[i]!);
      if (d === 0) resizeExact++;
      resizeMaxDiff = Math.max(resizeMaxDiff, d);
    }

    // Normalised pixels: within one uint8 step, ≥ 99% bit-exact; padded tiles exact zeros in both.
    const pixels = readPreprocessTensor(r, c.pixel_values) as Float32Array;
    expect(out.pixels.length).toBe(pixels.length);
    let pixelsExact = 0;
    let pixelsMaxDiff = 0;
    for (let i = 0; i < pixels.length; i++) {
      const d = Math.abs(out.pixels[i]! - pixels[i]!);
      if (d === 0) pixelsExact++;
      pixelsMaxDiff = Math.max(pixelsMaxDiff, d);
    }
    const realLength = out.realTiles * 3 * c.tile_size * c.tile_size;
    expect(pixels.subarray(realLength).every((v) => Object.is(v, 0))).toBe(true);
    expect(out.pixels.subarray(realLength).every((v) => Object.is(v, 0))).toBe(true);

    measured.push({
      case: name,
      size: `${c.width}×${c.height}${c.channels === 4 ? " RGBA" : ""}`,
      resized: `${c.resized.width}×${c.resized.height} on ${c.canvas.h_tiles}×${c.canvas.w_tiles}`,
      resizeExact: `${percent(resizeExact, want.length).toFixed(3)}%`,
      resizeMaxDiff,
      pixelsExact: `${percent(pixelsExact, pixels.length).toFixed(3)}%`,
      pixelsMaxDiff: pixelsMaxDiff.toExponential(2),
      ms: ms.toFixed(1),
    });
    expect(resizeMaxDiff).toBeLessThanOrEqual(1);
    expect(percent(resizeExact, want.length)).toBeGreaterThanOrEqual(99);
    expect(pixelsMaxDiff).toBeLessThanOrEqual(ONE_STEP);
    expect(percent(pixelsExact, pixels.length)).toBeGreaterThanOrEqual(99);
  });
});
