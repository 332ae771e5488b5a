#!/usr/bin/env node
// Writes the generated dataset (lib/synthetic) for training and evaluating a small VLM, all from one seed:
//   train.jsonl     supervised examples: {id, image (base64 PNG), prompt, target (the four stages)}
//   judge.jsonl     judge examples from the training items: pairwise (with `item`, the training item whose
//                   image the judge sees) and reasoning-check prompts, and the answers to learn
//   heldout.jsonl   evaluation rows for `stagebeam eval --data` (never trained on)
// Usage: node scripts/synthetic-data.mjs [--seed N] [--train N] [--heldout N] [--size PX] [--out DIR]
// (run after `npm run prepare`, which compiles lib/ to dist/).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { evalRow, generateSplit, trainingExample } from "../dist/synthetic/dataset.js";
import { judgeExamples } from "../dist/synthetic/judge-pairs.js";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "0" },
    train: { type: "string", default: "20000" },
    heldout: { type: "string", default: "500" },
    size: { type: "string", default: "64" },
    out: { type: "string", default: "data/synthetic" },
  },
});
const number = (name) => {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative integer, got "${values[name]}"\n`);
    process.exit(2);
  }
  return n;
};
const seed = number("seed");
const { train, heldOut } = generateSplit({ seed, train: number("train"), heldOut: number("heldout"), size: number("size") });
mkdirSync(values.out, { recursive: true });
const jsonl = (rows) => rows.map((r) => JSON.stringify(r)).join("\n") + (rows.length ? "\n" : "");
writeFileSync(join(values.out, "train.jsonl"), jsonl(train.map(trainingExample)));
writeFileSync(join(values.out, "judge.jsonl"), jsonl(train.flatMap((item) => judgeExamples(item, seed))));
writeFileSync(join(values.out, "heldout.jsonl"), jsonl(heldOut.map(evalRow)));
process.stderr.write(`${values.out}: ${train.length} training items, ${train.length * 6} judge examples, ${heldOut.length} held-out rows (seed ${seed})\n`);
