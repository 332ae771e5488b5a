// What a decode step costs beyond the forward pass, alone on one model (bench/step-cost.mjs says what is
// measured; npm run bench prints the same table for the Q4_0 model).
//
//   node bench/step-overhead.mjs MODEL.gguf [--widths 1,4] [--steps 64] [--reps 5] [--threads N] [--gpu-layers N] [--no-runs]
//
// Run it alone on the machine (after `npx tsc -p tsconfig.build.json`). Prints a Markdown table of
// medians over the repetitions, per step: the whole step, the forward pass, the read, the rest, and the
// step as a multiple of the forward pass.
import { availableParallelism } from "node:os";
import { loadModel } from "../dist/index.js";
import { stepCosts, stepCostTable } from "./step-cost.mjs";

const argv = process.argv.slice(2);
const path = argv.find((a) => !a.startsWith("--") && !/^\d/.test(a));
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
if (!path) {
  console.error("usage: node bench/step-overhead.mjs MODEL.gguf [--widths 1,4] [--steps 64] [--reps 5] [--threads N] [--gpu-layers N] [--no-runs]");
  process.exit(2);
}
const widths = option("widths", "1,4").split(",").map(Number);
const steps = Number(option("steps", "64"));
const reps = Number(option("reps", "5"));
const threads = Number(option("threads", String(availableParallelism())));
const gpuLayers = Number(option("gpu-layers", "0"));
// --no-runs: every step a round trip through JS, as when generate() calls share the context.
const decodeRuns = !argv.includes("--no-runs");

const model = await loadModel({ path, gpuLayers });
try {
  console.log(`${model.metadata.name ?? path} (${model.metadata.description}), ${threads} threads, ${steps} steps, medians of ${reps}, ${decodeRuns ? "decode runs" : "step by step"}\n`);
  console.log(stepCostTable(await stepCosts(model, { widths, steps, reps, threads, decodeRuns })));
} finally {
  await model.dispose();
}
