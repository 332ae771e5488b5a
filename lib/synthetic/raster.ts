// Draws a scene into RGB pixels: filled shapes on white, or bars on a grid of light lines, one per unit.
import type { RawImage } from "../engine/prompt-input.js";
import { COLOURS, type ChartScene, type Scene, type ShapeScene, type Thing } from "./scene.js";

const WHITE = [255, 255, 255] as const;
const GRID = [215, 215, 215] as const;
const AXIS = [60, 60, 60] as const;

/** Whether pixel (px, py) — its centre — lies inside the thing. */
export function covers(t: Thing, px: number, py: number): boolean {
  const x = px + 0.5 - t.x;
  const y = py + 0.5 - t.y;
  switch (t.shape) {
    case "circle":
      return x * x + y * y <= t.size * t.size;
    case "square":
      return Math.abs(x) <= t.size && Math.abs(y) <= t.size;
    case "triangle": {
      // Apex up, base at y = +size, apex at y = -size.
      if (y < -t.size || y > t.size) return false;
      const half = (t.size * (y + t.size)) / (2 * t.size);
      return Math.abs(x) <= half;
    }
  }
}

export function render(scene: Scene): RawImage {
  const data = new Uint8Array(scene.width * scene.height * 3);
  const set = (x: number, y: number, rgb: readonly number[]) => data.set(rgb, (y * scene.width + x) * 3);
  for (let y = 0; y < scene.height; y++) for (let x = 0; x < scene.width; x++) set(x, y, WHITE);
  if (scene.kind === "shapes") drawShapes(scene, set);
  else drawChart(scene, set);
  return { width: scene.width, height: scene.height, data };
}

function drawShapes(scene: ShapeScene, set: (x: number, y: number, rgb: readonly number[]) => void): void {
  for (const t of scene.things) {
    for (let y = Math.max(0, t.y - t.size - 1); y <= Math.min(scene.height - 1, t.y + t.size + 1); y++) {
      for (let x = Math.max(0, t.x - t.size - 1); x <= Math.min(scene.width - 1, t.x + t.size + 1); x++) if (covers(t, x, y)) set(x, y, COLOURS[t.colour]);
    }
  }
}

/** The plot area of a chart: bars stand on `bottom`; one unit is `unit` pixels. */
export function chartFrame(scene: ChartScene) {
  const left = Math.round(scene.width * 0.1);
  const right = scene.width - Math.round(scene.width * 0.05);
  const bottom = scene.height - Math.round(scene.height * 0.1);
  const top = Math.round(scene.height * 0.05);
  return { left, right, bottom, top, unit: (bottom - top) / scene.maxValue, slot: (right - left) / scene.bars.length };
}

function drawChart(scene: ChartScene, set: (x: number, y: number, rgb: readonly number[]) => void): void {
  const f = chartFrame(scene);
  for (let v = 1; v <= scene.maxValue; v++) {
    const y = Math.round(f.bottom - v * f.unit);
    for (let x = f.left; x < f.right; x++) set(x, y, GRID);
  }
  scene.bars.forEach((bar, i) => {
    const x0 = Math.round(f.left + i * f.slot + f.slot * 0.2);
    const x1 = Math.round(f.left + (i + 1) * f.slot - f.slot * 0.2);
    const top = Math.round(f.bottom - bar.value * f.unit);
    for (let y = top; y < f.bottom; y++) for (let x = x0; x < x1; x++) set(x, y, COLOURS[bar.colour]);
  });
  for (let x = f.left; x < f.right; x++) set(x, f.bottom, AXIS);
  for (let y = f.top; y <= f.bottom; y++) set(f.left, y, AXIS);
}
