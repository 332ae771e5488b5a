// Benchmark files for the eval tests, written by code: a VLMEvalKit-style TSV with base64 PNG images
// (seeded patterns) and the JSONL format, with a known mix of question kinds.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tsvField } from "../../lib/eval/tsv-fields.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";

export const png = (seed: number) => encodePng(24, 24, rgbPattern(24, 24, seed));

export interface TsvRowSpec {
  index: string;
  image?: string;
  question: string;
  hint?: string;
  options?: string[];
  answer: string;
  category?: string;
}

/** A TSV as pandas writes VLMEvalKit's files: options in columns A…D, empty where a row has fewer. */
export function vlmevalTsv(rows: TsvRowSpec[], letters = ["A", "B", "C", "D"]): string {
  const header = ["index", "image", "question", "hint", ...letters, "answer", "category"];
  const lines = rows.map((r) =>
    [r.index, r.image ?? "", r.question, r.hint ?? "", ...letters.map((_, i) => r.options?.[i] ?? ""), r.answer, r.category ?? ""].map(tsvField).join("\t"),
  );
  return `${[header.join("\t"), ...lines].join("\n")}\n`;
}

/** Eight well-formed rows: four multiple choice, two yes/no, a number and an open answer. */
export function benchmarkRows(): TsvRowSpec[] {
  const image = (seed: number) => png(seed).toString("base64");
  return [
    { index: "0", image: image(1), question: "What colour is the square?", options: ["red", "green", "blue"], answer: "B", category: "colour" },
    { index: "1", image: image(2), question: "Which shape is largest?", hint: "Look at the left half.", options: ["circle", "square", "triangle", "star"], answer: "D", category: "shape" },
    { index: "2", image: "1", question: "Is the circle left of the square?", answer: "Yes", category: "position" },
    { index: "3", image: image(3), question: "Is there a triangle?", answer: "No", category: "shape" },
    { index: "4", image: image(4), question: "How many circles are there?", answer: "3", category: "count" },
    { index: "5", image: image(5), question: "What is drawn?", answer: "a red circle", category: "shape" },
    { index: "6", image: image(6), question: "Which bar is tallest?", options: ["first", "second"], answer: "A", category: "chart" },
    { index: "7", image: image(7), question: "What colour is the\tbar?\nAnswer briefly.", options: ["yellow", "\"purple\""], answer: "B", category: "chart" },
  ];
}

export function writeBenchmark(dir: string, name = "bench.tsv", rows = benchmarkRows()): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, vlmevalTsv(rows));
  return path;
}
