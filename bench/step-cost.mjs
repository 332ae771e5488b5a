// What a decode step costs beyond the forward pass, on the same batch (issue 15: per-step work stays
// proportional to what was asked). For each width and sampling mode, lockstep generation through the
// public API (generate(): the scheduler, the sampler per sequence, the N-API hop, the JS loop — or, alone
// on the context, a decode run: many steps in one native call) with logprobs off and on; the native
// worker times the forward pass itself (llama_decode and its synchronisation — what llama-bench's tg
// measures — or mllama's graph) and the output read (sampling, log-softmax), so the rest is what a step
// adds around them. decodeRuns: false measures every step as a round trip through JS. Used by
// bench/run.mjs and, alone, by bench/step-overhead.mjs.
import { performance } from "node:perf_hooks";
import { median } from "./medians.mjs";

export const STEP_MODES = [
  { name: "greedy", sampling: { temperature: 0 } },
  { name: "T 0.6, top-p 0.9", sampling: { temperature: 0.6, topP: 0.9 } },
];

/**
 * Per-step milliseconds (medians over `reps`, after one warm-up each): the whole step, the forward pass,
 * the read, the rest, for every width × sampling mode × logprobs off/on.
 */
export async function stepCosts(model, { widths, steps, reps, threads, decodeRuns = true, modes = STEP_MODES, logprobModes = [false, true] }) {
  const prompt = Array.from({ length: 16 }, (_, i) => 100 + ((i * 7919) % (model.vocabSize - 200)));
  const context = await model.createContext({ contextSize: Math.max(512, Math.max(...widths) * (steps + 32) + 64), sequences: Math.max(...widths) + 1, threads, decodeRuns });
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

  const rows = [];
  try {
    for (const width of widths) {
      for (const mode of modes) {
        for (const logprobs of logprobModes) {
          await once(width, mode.sampling, logprobs, 1); // warm: compute buffers, threads, caches
          const runs = [];
          for (let r = 0; r < reps; r++) runs.push(await once(width, mode.sampling, logprobs, 100 * r));
          const m = Object.fromEntries(["step", "forward", "read", "rest"].map((k) => [k, median(runs.map((x) => x[k]))]));
          rows.push({ width, sampling: mode.name, logprobs, ...m, stepOverForward: m.step / m.forward });
        }
      }
    }
  } finally {
    await context.dispose();
  }
  return rows;
}

/** The rows as a Markdown table. */
export function stepCostTable(rows) {
  const f = (x) => x.toFixed(3);
  return [
    "| width | sampling | logprobs | step ms | forward ms | read ms | rest ms | step / forward |",
    "|---:|---|---|---:|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.width} | ${r.sampling} | ${r.logprobs ? "on" : "off"} | ${f(r.step)} | ${f(r.forward)} | ${f(r.read)} | ${f(r.rest)} | ${r.stepOverForward.toFixed(3)} |`),
  ].join("\n");
}
