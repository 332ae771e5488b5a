// The generated dataset: reproducible from its seed, answers that the pictures bear out, four-stage
// answers that parse and score right (their wrong versions wrong), judge examples in the judge's own
// prompt and answer forms, and a held-out split that shares nothing with training.
import { describe, expect, test } from "vitest";
import { readJsonlItems } from "../../lib/eval/jsonl-items.js";
import { scoreAnswer } from "../../lib/eval/score.js";
import { parseChoice, parseVerdict } from "../../lib/reasoning/judge-prompts.js";
import { parseAnswer, STAGES } from "../../lib/reasoning/stages.js";
import { evalRow, generateItems, generateSplit, itemKey, stagedAnswer, trainingExample, type SyntheticItem } from "../../lib/synthetic/dataset.js";
import { judgeExamples } from "../../lib/synthetic/judge-pairs.js";
import { chartFrame, render } from "../../lib/synthetic/raster.js";
import { COLOURS, type Colour } from "../../lib/synthetic/scene.js";
import { FAMILIES } from "../../lib/synthetic/tasks.js";

const items = generateItems({ seed: 7, count: 240 });

/** Connected regions (4-neighbour) of exactly this colour in the picture. */
function regions(item: SyntheticItem, colour: Colour): number {
  const { width, height, data } = render(item.scene);
  const [r, g, b] = COLOURS[colour];
  const seen = new Uint8Array(width * height);
  const is = (p: number) => data[p * 3] === r && data[p * 3 + 1] === g && data[p * 3 + 2] === b;
  let count = 0;
  for (let start = 0; start < width * height; start++) {
    if (seen[start] || !is(start)) continue;
    count++;
    const stack = [start];
    seen[start] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      const x = p % width;
      for (const q of [p - width, p + width, x > 0 ? p - 1 : -1, x < width - 1 ? p + 1 : -1]) {
        if (q >= 0 && q < width * height && !seen[q] && is(q)) {
          seen[q] = 1;
          stack.push(q);
        }
      }
    }
  }
  return count;
}

describe("generated items", () => {
  test("the same seed gives the same items; another seed others", () => {
    const again = generateItems({ seed: 7, count: 240 });
    expect(again.map((i) => [i.id, i.question, i.answer, i.image.toString("base64")])).toEqual(items.map((i) => [i.id, i.question, i.answer, i.image.toString("base64")]));
    const other = generateItems({ seed: 8, count: 20 });
    expect(other.map(itemKey)).not.toEqual(items.slice(0, 20).map(itemKey));
    // An item does not depend on how many are generated.
    expect(generateItems({ seed: 7, count: 5 }).map(itemKey)).toEqual(items.slice(0, 5).map(itemKey));
  });

  test("every family is generated", () => {
    expect(new Set(items.map((i) => i.family))).toEqual(new Set(FAMILIES));
  });

  test("the pictures bear out the scenes the answers come from", () => {
    for (const item of items) {
      if (item.scene.kind === "shapes") {
        // Shapes never touch: each colour shows as many regions as there are things of that colour.
        for (const colour of new Set(item.scene.things.map((t) => t.colour))) {
          expect(regions(item, colour)).toBe(item.scene.things.filter((t) => t.colour === colour).length);
        }
      } else {
        // Each bar's height, read off the pixels in units of the grid, is its value.
        const { width, data } = render(item.scene);
        const f = chartFrame(item.scene);
        item.scene.bars.forEach((bar, i) => {
          const x = Math.round(f.left + (i + 0.5) * f.slot);
          let height = 0;
          for (let y = f.bottom - 1; y >= 0; y--) {
            const p = (y * width + x) * 3;
            if (data[p] !== COLOURS[bar.colour][0] || data[p + 1] !== COLOURS[bar.colour][1] || data[p + 2] !== COLOURS[bar.colour][2]) break;
            height++;
          }
          expect(Math.round(height / f.unit)).toBe(bar.value);
        });
      }
    }
  });

  test("worked answers parse into four well-formed stages; their conclusions score right, the wrong ones wrong", () => {
    for (const item of items) {
      const parsed = parseAnswer(stagedAnswer(item.stages));
      for (const stage of STAGES) {
        expect(parsed[stage].wellFormed).toBe(true);
        expect(parsed[stage].content).toBe(item.stages[stage]);
        expect(item.wrong[stage]).not.toBe(item.stages[stage]);
      }
      expect(`${item.stages.CAPTION} ${item.stages.REASONING}`).not.toMatch(/\ba [aeiou]/i);
      expect(scoreAnswer(item, item.stages.CONCLUSION).correct).toBe(true);
      expect(scoreAnswer(item, item.wrong.CONCLUSION).correct).toBe(false);
    }
  });

  test("judge examples: the judge's prompts, answers that parse to the right choice and verdict", () => {
    const orders = new Set<number>();
    for (const item of items.slice(0, 60)) {
      const examples = judgeExamples(item, 1);
      expect(examples).toHaveLength(6);
      for (const e of examples) {
        if (e.kind === "pairwise") {
          expect(parseChoice(e.target)).toBe(e.better! - 1);
          expect(e.prompt).toContain(`Response ${e.better}: ${item.stages[e.stage]}`);
          expect(e.prompt).toContain(`Response ${3 - e.better!}: ${item.wrong[e.stage]}`);
          orders.add(e.better!);
        } else {
          expect(parseVerdict(e.target)).toBe(e.verdict);
          expect(e.prompt).toContain(`Description: ${item.stages.CAPTION}`);
        }
      }
    }
    expect(orders).toEqual(new Set([1, 2]));
  });

  test("the held-out split shares no picture-and-question with training; rows read as the harness's JSONL", () => {
    const { train, heldOut } = generateSplit({ seed: 3, train: 600, heldOut: 500 });
    expect(train).toHaveLength(600);
    expect(heldOut).toHaveLength(500);
    const trained = new Set(train.map(itemKey));
    expect(heldOut.filter((i) => trained.has(itemKey(i)))).toEqual([]);
    const { items: read, problems } = readJsonlItems(heldOut.slice(0, 20).map((i) => JSON.stringify(evalRow(i))).join("\n"), "/");
    expect(problems).toEqual([]);
    expect(read.map((r) => [r.id, r.answer, r.category])).toEqual(heldOut.slice(0, 20).map((i) => [i.id, i.answer, i.family]));
    expect(Buffer.from(read[0]!.image as Uint8Array)).toEqual(heldOut[0]!.image);
    expect(trainingExample(train[0]!).target).toBe(stagedAnswer(train[0]!.stages));
  });
});
