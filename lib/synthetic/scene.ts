// What a generated picture shows, as data: shapes of known colours at known places, or a bar chart of
// known values. Questions, answers and every stage of a worked answer are computed from this, never
// from the pixels, so each answer is known exactly.
import { seededRandom } from "../seeded-random.js";

export const COLOURS = { red: [220, 40, 40], green: [40, 170, 60], blue: [40, 80, 220], yellow: [235, 200, 30], purple: [140, 60, 190], orange: [245, 140, 30] } as const;
export type Colour = keyof typeof COLOURS;
export const COLOUR_NAMES = Object.keys(COLOURS) as Colour[];

export const SHAPES = ["circle", "square", "triangle"] as const;
export type Shape = (typeof SHAPES)[number];

export interface Thing {
  shape: Shape;
  colour: Colour;
  /** Centre, in pixels. */
  x: number;
  y: number;
  /** Half the width: the radius of a circle, half the side of a square or a triangle's base. */
  size: number;
}

export interface ShapeScene {
  kind: "shapes";
  width: number;
  height: number;
  things: Thing[];
}

export interface Bar {
  colour: Colour;
  value: number;
}

export interface ChartScene {
  kind: "chart";
  width: number;
  height: number;
  /** Left to right; values are whole units, gridlines every unit. */
  bars: Bar[];
  maxValue: number;
}

export type Scene = ShapeScene | ChartScene;

export type Random = ReturnType<typeof seededRandom>;
export const pick = <T>(random: Random, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
export const integer = (random: Random, min: number, max: number) => min + Math.floor(random() * (max - min + 1));

export function shuffle<T>(random: Random, list: readonly T[]): T[] {
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** 1 to `maxThings` shapes that neither overlap nor touch the border (by rejection sampling). */
export function shapeScene(random: Random, size: number, maxThings = 6): ShapeScene {
  const count = integer(random, 1, maxThings);
  const things: Thing[] = [];
  const smallest = Math.max(4, Math.round(size / 16));
  const largest = Math.max(smallest, Math.round(size / 9));
  for (let tries = 0; things.length < count && tries < 500; tries++) {
    const s = integer(random, smallest, largest);
    const thing: Thing = { shape: pick(random, SHAPES), colour: pick(random, COLOUR_NAMES), x: integer(random, s + 2, size - s - 3), y: integer(random, s + 2, size - s - 3), size: s };
    // Apart by the sum of their circumscribed radii (√2 × half-width covers squares and triangles), plus a gap.
    if (things.every((t) => Math.hypot(t.x - thing.x, t.y - thing.y) > Math.SQRT2 * (t.size + thing.size) + 2)) things.push(thing);
  }
  return { kind: "shapes", width: size, height: size, things };
}

/** 3 to 5 bars of distinct colours, values 1 to 9, one tallest. */
export function chartScene(random: Random, size: number): ChartScene {
  const colours = shuffle(random, COLOUR_NAMES).slice(0, integer(random, 3, 5));
  for (;;) {
    const bars = colours.map((colour) => ({ colour, value: integer(random, 1, 9) }));
    const max = Math.max(...bars.map((b) => b.value));
    if (bars.filter((b) => b.value === max).length === 1) return { kind: "chart", width: size, height: size, bars, maxValue: 10 };
  }
}

/** Where a thing is, in words: thirds of the picture ("top left", "centre", "bottom right"). */
export function placeWords(thing: Thing, scene: ShapeScene): string {
  const third = (v: number, extent: number) => Math.min(2, Math.floor((3 * v) / extent));
  const row = ["top", "middle", "bottom"][third(thing.y, scene.height)]!;
  const column = ["left", "centre", "right"][third(thing.x, scene.width)]!;
  if (row === "middle" && column === "centre") return "in the centre";
  if (row === "middle") return `on the ${column}`;
  if (column === "centre") return `at the ${row}`;
  return `at the ${row} ${column}`;
}
