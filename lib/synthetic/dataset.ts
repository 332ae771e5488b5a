// The generated dataset: items drawn from a seed (a scene, a question family that fits it, the task), as
// evaluation rows (the harness's JSONL: id, base64 PNG image, question, choices, answer, category =
// family) and as training examples (the prompt the harness asks, the four-stage answer). The held-out
// split comes from its own seed stream and keeps no item whose picture and question are in training.
import { createHash } from "node:crypto";
import { questionPrompt } from "../eval/question-prompt.js";
import { deriveSeed } from "../reasoning/seeds.js";
import { closeTag, stageOpening, STAGES, type Stage } from "../reasoning/stages.js";
import { seededRandom } from "../seeded-random.js";
import { encodePng } from "../png.js";
import { render } from "./raster.js";
import { chartScene, pick, shapeScene, type Scene } from "./scene.js";
import { FAMILIES, makeTask, type Task } from "./tasks.js";

export interface SyntheticItem extends Task {
  id: string;
  scene: Scene;
  /** The picture, as a PNG file (flat colours: a few hundred bytes). */
  image: Buffer;
}

export interface GenerateOptions {
  seed: number;
  count: number;
  /** Side of the square pictures in pixels (default 64). */
  size?: number;
  /** Id prefix ("train", "heldout"). */
  prefix?: string;
}

export function generateItems(o: GenerateOptions): SyntheticItem[] {
  const size = o.size ?? 64;
  const items: SyntheticItem[] = [];
  for (let i = 0; items.length < o.count; i++) {
    // One stream per item: an item does not change when the count does.
    const random = seededRandom(deriveSeed(o.seed, "item", i));
    const family = pick(random, FAMILIES);
    const scene = family.startsWith("chart") ? chartScene(random, size) : shapeScene(random, size);
    const task = makeTask(random, family, scene);
    if (!task) continue;
    const pixels = render(scene);
    items.push({ id: `${o.prefix ?? "item"}-${i}`, scene, image: encodePng(pixels.width, pixels.height, pixels.data), ...task });
  }
  return items;
}

/** What makes two items the same question: the picture and the question. */
export function itemKey(item: Pick<SyntheticItem, "image" | "question">): string {
  return createHash("sha256").update(item.image).update(item.question).digest("hex");
}

export function generateSplit(o: { seed: number; train: number; heldOut: number; size?: number }): { train: SyntheticItem[]; heldOut: SyntheticItem[] } {
  const train = generateItems({ seed: deriveSeed(o.seed, "train"), count: o.train, size: o.size, prefix: "train" });
  const seen = new Set(train.map(itemKey));
  const heldOut: SyntheticItem[] = [];
  let extra = 0;
  while (heldOut.length < o.heldOut) {
    const batch = generateItems({ seed: deriveSeed(o.seed, "heldout"), count: o.heldOut + extra, size: o.size, prefix: "heldout" });
    heldOut.splice(0, heldOut.length, ...batch.filter((item) => !seen.has(itemKey(item))).slice(0, o.heldOut));
    extra += o.heldOut - heldOut.length;
  }
  return { train, heldOut };
}

/** The answer as LLaVA-CoT writes it: the four tagged stages, a blank line apart. */
export function stagedAnswer(stages: Record<Stage, string>): string {
  return STAGES.map((s) => `${stageOpening(s)}${stages[s]} ${closeTag(s)}`).join("");
}

/** A row of the harness's JSONL (lib/eval/jsonl-items.ts). */
export function evalRow(item: SyntheticItem) {
  return {
    id: item.id,
    image: item.image.toString("base64"),
    question: item.question,
    ...(item.choices ? { choices: item.choices } : {}),
    answer: item.answer,
    category: item.family,
  };
}

/** A supervised example: the prompt exactly as the harness asks it, and the four-stage answer. */
export function trainingExample(item: SyntheticItem) {
  return { id: item.id, image: item.image.toString("base64"), prompt: questionPrompt(item), target: stagedAnswer(item.stages) };
}
