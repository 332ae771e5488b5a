// Which tile grid an mllama image goes on, and what size it is resized to there: a port of transformers 5.18's
// get_all_supported_aspect_ratios, get_optimal_tiled_canvas and get_image_size_fit_to_canvas
// (models/mllama/image_processing_pil_mllama.py). Every pair here is (h_tiles, w_tiles) (errata b4), and the
// arithmetic is float64 in HF's order, because ties are found by exact equality (errata b3).

/** A tile grid: rows (h) by columns (w) of tileSize × tileSize tiles. */
export interface TileGrid {
  hTiles: number;
  wTiles: number;
}

/** The grids with at most maxTiles tiles, in HF's order: the first count in the outer loop. Index + 1 is the
 * aspect-ratio id. HF's docstring calls the pairs (width, height), but every consumer reads them as
 * (h_tiles, w_tiles): for 4, [1,1], [1,2], [1,3], [1,4], [2,1], [2,2], [3,1], [4,1]. */
export function supportedAspectRatios(maxTiles: number): TileGrid[] {
  const grids: TileGrid[] = [];
  for (let hTiles = 1; hTiles <= maxTiles; hTiles++) {
    for (let wTiles = 1; wTiles <= maxTiles; wTiles++) {
      if (hTiles * wTiles <= maxTiles) grids.push({ hTiles, wTiles });
    }
  }
  return grids;
}

/** The 1-based aspect-ratio id of a grid (0 is the batch padding id in HF, never a real grid). */
export function aspectRatioId(grid: TileGrid, maxTiles: number): number {
  const index = supportedAspectRatios(maxTiles).findIndex((g) => g.hTiles === grid.hTiles && g.wTiles === grid.wTiles);
  if (index < 0) throw new RangeError(`${grid.hTiles}×${grid.wTiles} tiles is not a grid of at most ${maxTiles} tiles`);
  return index + 1;
}

/** get_optimal_tiled_canvas: each grid's scale is the smaller of canvas/image per side; the smallest scale ≥ 1
 * wins (the least upscale), else the largest (the least downscale); among grids with exactly that scale, the
 * first of smallest area. */
export function optimalTiledCanvas(imageWidth: number, imageHeight: number, maxTiles: number, tileSize: number): TileGrid {
  const grids = supportedAspectRatios(maxTiles);
  const scales = grids.map((g) => {
    const scaleH = (g.hTiles * tileSize) / imageHeight;
    const scaleW = (g.wTiles * tileSize) / imageWidth;
    return scaleW > scaleH ? scaleH : scaleW;
  });
  const upscales = scales.filter((s) => s >= 1);
  const selected = upscales.length > 0 ? Math.min(...upscales) : Math.max(...scales.filter((s) => s < 1));
  let best: TileGrid | undefined;
  for (let i = 0; i < grids.length; i++) {
    if (scales[i] !== selected) continue;
    const g = grids[i];
    if (!best || g.hTiles * g.wTiles < best.hTiles * best.wTiles) best = g; // strict: np.argmin keeps the first
  }
  return best!;
}

/** get_image_size_fit_to_canvas: each side's target is the image side clipped to [tileSize, canvas side], and
 * the image is fitted into that box keeping its aspect ratio (floor, at least 1 pixel). So an image that already
 * fits between one tile and the canvas is not resized at all (errata b2). */
export function sizeFitToCanvas(
  imageWidth: number,
  imageHeight: number,
  canvas: TileGrid,
  tileSize: number,
): { width: number; height: number } {
  const clip = (side: number, max: number) => Math.min(Math.max(side, tileSize), max); // np.clip
  const targetWidth = clip(imageWidth, canvas.wTiles * tileSize);
  const targetHeight = clip(imageHeight, canvas.hTiles * tileSize);
  const scaleH = targetHeight / imageHeight;
  const scaleW = targetWidth / imageWidth;
  if (scaleW < scaleH) {
    return { width: targetWidth, height: Math.min(Math.floor(imageHeight * scaleW) || 1, targetHeight) };
  }
  return { width: Math.min(Math.floor(imageWidth * scaleH) || 1, targetWidth), height: targetHeight };
}
