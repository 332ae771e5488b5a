// Soak: many cycles of load → context → image → fork ×4 → generate → dispose, and many reason() calls
// on one long-lived model. After a warm-up, RSS grows less than 5%, and open file descriptors and live
// native handles come back to exactly where they started.
import { expect, test } from "vitest";
import { loadModel, type StrategyName } from "../../lib/index.js";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { tinyClip, tinyLlama } from "../fixtures/models.js";
import { footprint, FULL, recordResults, size, type Footprint } from "./harness.js";

const image = encodePng(56, 56, rgbPattern(56, 56, 21));
const results: Record<string, unknown> = {};

function growth(from: Footprint, to: Footprint) {
  return { rssGrowthPercent: Math.round(((to.rss - from.rss) / from.rss) * 10000) / 100, fdDelta: to.fds - from.fds, rssStartMiB: Math.round(from.rss / 2 ** 20), rssEndMiB: Math.round(to.rss / 2 ** 20) };
}

test("load → context → image → fork ×4 → generate → dispose, over and over: no growth, nothing left open", async () => {
  const cycles = size(6, 200);
  const warmup = Math.max(2, Math.floor(cycles / 10));
  // RSS only at full size: a few cycles end before the allocator's arenas and caches settle.
  const before = await footprint();
  let afterWarmup: Footprint | null = null;
  const started = performance.now();
  for (let i = 0; i < cycles; i++) {
    if (i === warmup) afterWarmup = await footprint();
    const model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
    const context = await model.createContext({ contextSize: 1024, sequences: 6, threads: 1 });
    const prompt = await context.createSequenceFrom([{ image }, "Describe the picture."], { sampling: { temperature: 0.8, seed: i } });
    const forks = [prompt, ...(await Promise.all([prompt.fork(), prompt.fork(), prompt.fork(), prompt.fork()]))];
    const generated = await context.generate(forks, { maxTokens: 16, ignoreEog: true }).result();
    expect(generated).toHaveLength(5);
    await model.dispose(); // disposes the context, and with it every sequence
  }
  const after = await footprint();
  const ms = performance.now() - started;
  expect(after.handles, "native handles").toEqual(before.handles);
  expect(after.fds, "open file descriptors").toBe(before.fds);
  const g = growth(afterWarmup!, after);
  results["model cycles"] = { cycles, warmupCycles: warmup, ...g, durationS: Math.round(ms / 100) / 10, handlesBack: true };
  recordResults("soak", results); // recorded before it is judged, so a failing run still says by how much
  if (FULL) expect(g.rssGrowthPercent, `RSS ${g.rssStartMiB} → ${g.rssEndMiB} MiB`).toBeLessThan(5);
}, size(300_000, 3_600_000));

test("reason() over and over on one long-lived model: no growth, nothing left open", async () => {
  const calls = size(4, Number(process.env.STAGEBEAM_SOAK_CALLS ?? 1000));
  const warmup = Math.max(3, Math.floor(calls / 10));
  const before = await footprint();
  const model = await loadModel({ path: tinyLlama(), projector: tinyClip() });
  // One long-lived context with a prefix cache, as a service keeps; full by the end of the warm-up.
  const context = await model.createContext({ contextSize: 2048, sequences: 24, threads: 1, prefixCache: { sequences: 2 } });
  const strategies: StrategyName[] = ["single", "stage-beam", "best-of-n", "single"];
  let afterWarmup: Footprint | null = null;
  const started = performance.now();
  // RSS at every tenth of the run after the warm-up: a leak climbs steadily, an allocator settling flattens.
  const curve: number[] = [];
  const every = Math.max(1, Math.floor((calls - warmup) / 10));
  for (let i = 0; i < calls; i++) {
    if (i === warmup) afterWarmup = await footprint();
    if (i >= warmup && (i - warmup) % every === 0) curve.push(Math.round(process.memoryUsage().rss / 2 ** 20));
    const result = await model.reason({
      question: `Question ${i % 50}: what is in the image?`,
      image: i % 3 === 0 ? undefined : image,
      strategy: strategies[i % strategies.length],
      width: 2,
      seed: i,
      forceStructure: "grammar",
      maxStageTokens: 6,
      maxJudgeTokens: 6,
      judge: "logprob",
      context,
    });
    expect(result.conclusion.length).toBeGreaterThan(0);
  }
  const after = await footprint();
  const ms = performance.now() - started;
  expect(after.handles, "native handles").toEqual(afterWarmup!.handles);
  expect(after.fds, "open file descriptors").toBe(afterWarmup!.fds);
  const g = growth(afterWarmup!, after);
  if (FULL) expect(g.rssGrowthPercent, `RSS ${g.rssStartMiB} → ${g.rssEndMiB} MiB`).toBeLessThan(5);
  expect(context.freeSequences).toBe(24 - context.prefixCache!.size);
  await model.dispose();
  expect((await footprint()).handles, "native handles once the model is gone").toEqual(before.handles);
  curve.push(Math.round(after.rss / 2 ** 20));
  results["reason() calls on one model"] = { calls, warmupCalls: warmup, ...g, rssCurveMiB: curve, durationS: Math.round(ms / 100) / 10, handlesBack: true };
  recordResults("soak", results);
}, size(300_000, 3_600_000));
