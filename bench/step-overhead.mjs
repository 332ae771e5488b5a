// What a decode step costs beyond the forward pass, on the same batch: issue 15 asks that per-step work
// stay proportional to what was asked. For each width and sampling mode, lockstep generation through the
// public API (generate(): the scheduler, the sampler per sequence, the N-API hop, the JS loop) with
// logprobs off and on; the native worker times the forward pass itself (llama_decode and its
// synchronisation — what llama-bench's tg measures — or mllama's graph) and the output read (sampling,
// log-softmax), so the rest is what a step adds around them.
//
//   node bench/step-overhead.mjs MODEL.gguf [--widths 1,4] [--steps 64] [--reps 5] [--threads N] [--gpu-layers N]
//
// Run it alone on the machine (after `npx tsc -p tsconfig.build.json`). Prints a Markdown table of
// medians over the repetitions, per step: the whole step, the forward pass, the read, the rest, and the
// step as a multiple of the forward pass.
import { performance } from "node:perf_hooks";
import { availableParallelism } from "node:os";
import { loadModel } from "../dist/index.js";

const argv = process.argv.slice(2);
const path = argv.find((a) => !a.startsWith("--") && !/^\d/.test(a));
const option = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : fallback;
};
if (!path) {
  console.error("usage: node bench/step-overhead.mjs MODEL.gguf [--widths 1,4] [--steps 64] [--reps 5] [--threads N] [--gpu-layers N]");
  process.exit(2);
}
const widths = option("widths", "1,4").split(",").map(Number);
const steps = Number(option("steps", "64"));
const reps = Number(option("reps", "5"));
const threads = Number(option("threads", String(availableParallelism())));
const gpuLayers = Number(option("gpu-layers", "0"));

const MODES = [
  { name: "greedy", sampling: { temperature: 0 } },
  { name: "T 0.6, top-p 0.9", sampling: { temperature: 0.6, topP: 0.9 } },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const model = await loadModel({ path, gpuLayers });
const prompt = Array.from({ length: 16 }, (_, i) => 100 + ((i * 7919) % (model.vocabSize - 200)));
const context = await model.createContext({ contextSize: Math.max(512, (widths.at(-1) ?? 1) * (steps + 32) + 64), sequences: Math.max(...widths) + 1, threads });
const stats = context.scheduler.stats; // @internal: the native timings of every decode call

/** One lockstep generation of `width` forks of the prompt for `steps` tokens; per-step milliseconds. */
async function once(width, sampling, logprobs, seed) {
  const root = context.createSequence();
  await root.evaluate(prompt);
  const forks = await Promise.all(Array.from({ length: width }, () => root.fork()));
  const before = { ...stats };
  const t0 = performance.now();
  await context
    .generate(
      forks.map((sequence, i) => ({ sequence, sampling: { ...sampling, seed: seed + i }, logprobs })),
      { maxTokens: steps, ignoreEog: true },
    )
    .result();
  const wall = performance.now() - t0;
  const calls = stats.decodeCalls - before.decodeCalls;
  await Promise.all([root, ...forks].map((s) => s.dispose()));
  const forward = (stats.forwardMs - before.forwardMs) / calls;
  const read = (stats.readMs - before.readMs) / calls;
  const step = wall / calls;
  return { step, forward, read, rest: step - forward - read };
}

console.log(`${model.metadata.name ?? path} (${model.metadata.description}), ${threads} threads, ${steps} steps, medians of ${reps}\n`);
console.log("| width | sampling | logprobs | step ms | forward ms | read ms | rest ms | step / forward |");
console.log("|---:|---|---|---:|---:|---:|---:|---:|");
for (const width of widths) {
  for (const mode of MODES) {
    for (const logprobs of [false, true]) {
      await once(width, mode.sampling, logprobs, 1); // warm: compute buffers, threads, caches
      const runs = [];
      for (let r = 0; r < reps; r++) runs.push(await once(width, mode.sampling, logprobs, 100 * r));
      const m = Object.fromEntries(["step", "forward", "read", "rest"].map((k) => [k, median(runs.map((x) => x[k]))]));
      const f = (x) => x.toFixed(3);
      console.log(`| ${width} | ${mode.name} | ${logprobs ? "on" : "off"} | ${f(m.step)} | ${f(m.forward)} | ${f(m.read)} | ${f(m.rest)} | ${(m.step / m.forward).toFixed(3)} |`);
    }
  }
}
await context.dispose();
await model.dispose();
