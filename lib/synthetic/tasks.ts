// Question families over generated scenes, each with its answer and a worked four-stage answer written
// from the scene (SUMMARY: the plan; CAPTION: what the picture shows; REASONING: the derivation;
// CONCLUSION: the answer alone), and a plausible wrong version of every stage — the losing side of a
// judge training pair.
import type { Stage } from "../reasoning/stages.js";
import { COLOUR_NAMES, integer, pick, placeWords, SHAPES, shuffle, type ChartScene, type Colour, type Random, type Scene, type ShapeScene, type Thing } from "./scene.js";

export const FAMILIES = ["count", "colour", "shape", "position", "chart-max", "chart-value"] as const;
export type Family = (typeof FAMILIES)[number];

export interface Task {
  family: Family;
  question: string;
  /** Lettered options of a multiple-choice question. */
  choices?: Record<string, string>;
  answer: string;
  stages: Record<Stage, string>;
  wrong: Record<Stage, string>;
}

const LETTERS = "ABCDEFGH";
const plural = (shape: string) => `${shape}s`;
const name = (t: Thing) => `${t.colour} ${t.shape}`;
/** "a" or "an", by the word's first letter (colours and shapes have no exceptions). */
const a = (word: string) => `${/^[aeiou]/.test(word) ? "an" : "a"} ${word}`;
const describe = (t: Thing, scene: ShapeScene) => `${a(name(t))} ${placeWords(t, scene)}`;
const capital = (s: string) => s[0]!.toUpperCase() + s.slice(1);

/** Plans for other questions: a wrong SUMMARY is one that answers something else. */
const OFF_PLANS = [
  "I will read the text written in the image and translate it.",
  "I will estimate how old the photograph is from its colours.",
  "I will describe the weather shown in the picture.",
  "I will guess the name of the artist from the style.",
];

export function caption(scene: Scene): string {
  if (scene.kind === "chart") {
    return `A bar chart with gridlines every unit and ${scene.bars.length} bars, from left to right: ${scene.bars.map((b) => `${b.colour} (${b.value})`).join(", ")}.`;
  }
  const n = scene.things.length;
  return `${n} ${n === 1 ? "object" : "objects"} on a white background: ${scene.things.map((t) => describe(t, scene)).join(", ")}.`;
}

/** The caption of the scene with one detail wrong: a colour, a shape or a bar's value changed. */
function wrongCaption(random: Random, scene: Scene): string {
  if (scene.kind === "chart") {
    const i = integer(random, 0, scene.bars.length - 1);
    const bars = scene.bars.map((b, k) => (k === i ? { ...b, value: b.value === 1 ? 2 : b.value - 1 } : b));
    return caption({ ...scene, bars });
  }
  const i = integer(random, 0, scene.things.length - 1);
  const t = scene.things[i]!;
  const changed: Thing = random() < 0.5 ? { ...t, colour: pick(random, COLOUR_NAMES.filter((c) => c !== t.colour)) } : { ...t, shape: pick(random, SHAPES.filter((s) => s !== t.shape)) };
  return caption({ ...scene, things: scene.things.map((x, k) => (k === i ? changed : x)) });
}

function lettered(options: string[]): Record<string, string> {
  return Object.fromEntries(options.map((o, i) => [LETTERS[i]!, o]));
}
const letterOf = (choices: Record<string, string>, text: string) => Object.keys(choices).find((l) => choices[l] === text)!;

/** What a family writes; makeTask turns it into a Task with the caption stages added. */
interface Draft {
  question: string;
  choices?: Record<string, string>;
  answer: string;
  plan: string;
  reasoning: string;
  conclusion: string;
  wrongReasoning: string;
  wrongConclusion: string;
}

/** A task of the family on the scene, or null when the scene cannot pose it (no unique object, …). */
export function makeTask(random: Random, family: Family, scene: Scene): Task | null {
  const offPlan = pick(random, OFF_PLANS);
  const cap = caption(scene);
  const badCap = wrongCaption(random, scene);
  const task = (t: Draft): Task => ({
    family,
    question: t.question,
    ...(t.choices ? { choices: t.choices } : {}),
    answer: t.answer,
    stages: { SUMMARY: t.plan, CAPTION: cap, REASONING: t.reasoning, CONCLUSION: t.conclusion },
    wrong: { SUMMARY: offPlan, CAPTION: badCap, REASONING: t.wrongReasoning, CONCLUSION: t.wrongConclusion },
  });
  if (scene.kind === "chart") return chartTask(random, family, scene, task);
  const unique = <K extends keyof Thing>(key: K) => scene.things.filter((t) => scene.things.filter((u) => u[key] === t[key]).length === 1);
  switch (family) {
    case "count": {
      const byColour = random() < 0.5 && scene.things.length > 0;
      const target = byColour ? pick(random, scene.things) : null;
      const shape = target?.shape ?? pick(random, SHAPES);
      const noun = target ? `${target.colour} ${plural(shape)}` : plural(shape);
      const found = scene.things.filter((t) => t.shape === shape && (!target || t.colour === target.colour));
      const n = found.length;
      const wrongN = n === 0 ? 1 : random() < 0.5 ? n + 1 : n - 1;
      const listed = n === 0 ? `None of the objects described is one of the ${noun}` : `The ${noun}: ${found.map((t) => `the ${name(t)} ${placeWords(t, scene)}`).join(", ")}`;
      return task({
        question: `How many ${noun} are there in the image?`,
        answer: String(n),
        plan: `I will find every one of the ${noun} in the image and count them.`,
        reasoning: `${listed}. Counting them gives ${n}.`,
        conclusion: String(n),
        wrongReasoning: `${listed}. Counting them gives ${wrongN}.`,
        wrongConclusion: String(wrongN),
      });
    }
    case "colour": {
      const candidates = unique("shape");
      if (candidates.length === 0) return null;
      const t = pick(random, candidates);
      const options = shuffle(random, [t.colour, ...shuffle(random, COLOUR_NAMES.filter((c) => c !== t.colour)).slice(0, 3)]);
      const choices = lettered(options);
      const right = letterOf(choices, t.colour);
      const other = pick(random, options.filter((c) => c !== t.colour)) as Colour;
      const wrong = letterOf(choices, other);
      return task({
        question: `What colour is the ${t.shape}?`,
        choices,
        answer: right,
        plan: `I will find the ${t.shape}, name its colour and match it to the options.`,
        reasoning: `There is one ${t.shape}, ${placeWords(t, scene)}, and it is ${t.colour}. ${capital(t.colour)} is option ${right}.`,
        conclusion: right,
        wrongReasoning: `There is one ${t.shape}, ${placeWords(t, scene)}, and it is ${other}. ${capital(other)} is option ${wrong}.`,
        wrongConclusion: wrong,
      });
    }
    case "shape": {
      const candidates = unique("colour");
      if (candidates.length === 0) return null;
      const t = pick(random, candidates);
      const choices = lettered(shuffle(random, SHAPES));
      const right = letterOf(choices, t.shape);
      const other = pick(random, SHAPES.filter((s) => s !== t.shape));
      const wrong = letterOf(choices, other);
      return task({
        question: `What shape is the ${t.colour} object?`,
        choices,
        answer: right,
        plan: `I will find the ${t.colour} object, name its shape and match it to the options.`,
        reasoning: `The only ${t.colour} object, ${placeWords(t, scene)}, is ${a(t.shape)}. ${capital(a(t.shape))} is option ${right}.`,
        conclusion: right,
        wrongReasoning: `The only ${t.colour} object, ${placeWords(t, scene)}, is ${a(other)}. ${capital(a(other))} is option ${wrong}.`,
        wrongConclusion: wrong,
      });
    }
    case "position": {
      const distinct = scene.things.filter((t) => scene.things.filter((u) => u.colour === t.colour && u.shape === t.shape).length === 1);
      const pairs = distinct.flatMap((a) => distinct.filter((b) => b !== a && Math.abs(a.x - b.x) >= a.size + b.size).map((b) => [a, b] as const));
      if (pairs.length === 0) return null;
      const [a, b] = pick(random, pairs);
      const left = a.x < b.x;
      const say = (isLeft: boolean) => `The ${name(a)} is ${placeWords(a, scene)} and the ${name(b)} is ${placeWords(b, scene)}; the ${name(a)} is further ${isLeft ? "left" : "right"}, so it is ${isLeft ? "" : "not "}to the left of the ${name(b)}.`;
      return task({
        question: `Is the ${name(a)} to the left of the ${name(b)}?`,
        answer: left ? "Yes" : "No",
        plan: `I will locate the ${name(a)} and the ${name(b)} and compare how far left each one is.`,
        reasoning: say(left),
        conclusion: left ? "Yes" : "No",
        wrongReasoning: say(!left),
        wrongConclusion: left ? "No" : "Yes",
      });
    }
    default:
      return null;
  }
}

function chartTask(random: Random, family: Family, scene: ChartScene, task: (t: Draft) => Task): Task | null {
  const reading = `Reading the bars against the gridlines: ${scene.bars.map((b) => `${b.colour} ${b.value}`).join(", ")}.`;
  if (family === "chart-max") {
    const sorted = [...scene.bars].sort((x, y) => y.value - x.value);
    const [top, second] = [sorted[0]!, sorted[1]!];
    const choices = lettered(scene.bars.map((b) => b.colour));
    const right = letterOf(choices, top.colour);
    const wrong = letterOf(choices, second.colour);
    return task({
      question: "Which bar is the tallest?",
      choices,
      answer: right,
      plan: "I will read the height of every bar and pick the tallest.",
      reasoning: `${reading} The tallest is the ${top.colour} bar at ${top.value}, which is option ${right}.`,
      conclusion: right,
      wrongReasoning: `${reading} The tallest is the ${second.colour} bar at ${second.value}, which is option ${wrong}.`,
      wrongConclusion: wrong,
    });
  }
  if (family === "chart-value") {
    const bar = pick(random, scene.bars);
    const off = bar.value === 1 ? 2 : random() < 0.5 && bar.value < 9 ? bar.value + 1 : bar.value - 1;
    return task({
      question: `What is the value of the ${bar.colour} bar?`,
      answer: String(bar.value),
      plan: `I will find the ${bar.colour} bar and read its height against the gridlines.`,
      reasoning: `The ${bar.colour} bar's top reaches gridline ${bar.value}, so its value is ${bar.value}.`,
      conclusion: String(bar.value),
      wrongReasoning: `The ${bar.colour} bar's top reaches gridline ${off}, so its value is ${off}.`,
      wrongConclusion: String(off),
    });
  }
  return null;
}
