#!/usr/bin/env node
// One staged-reasoning search, timed, in a process of its own (so its peak RSS is its own):
//   node bench/search-run.mjs '<json config>'  →  one line of JSON on stdout.
// The search row of the benchmark runs this once per strategy, width, judge mode and forking mode.
import { performance } from "node:perf_hooks";
import { loadModel } from "../dist/index.js";
import { stageOpening, closeTag, STAGES } from "../dist/reasoning/stages.js";

const config = JSON.parse(process.argv[2]);
const model = await loadModel({ path: config.model, projector: config.projector });
try {
  const context = await model.createContext({
    contextSize: config.contextSize,
    sequences: 64,
    threads: config.threads,
    prefixCache: { sequences: 2 },
  });
  // Warm-up on text only (weights paged in, compute buffers and threads up), as llama-bench does; the
  // image's first encode stays in the timing of every run alike.
  const warm = await context.createSequenceFrom("Warm up the weights.");
  await context.generate([warm], { maxTokens: 2, ignoreEog: true }).result();
  await warm.dispose();
  await context.prefixCache.clear();
  context.resetPeakCells();

  // KV cells when the CONCLUSION stage starts (its prefix: image, question, three winning stages) and
  // when its candidates are all written (that prefix plus every candidate's own tokens).
  let atStart = null;
  let atDone = 0;
  const onEvent = (e) => {
    if (e.type === "stage-start" && e.kind === "CONCLUSION") atStart = context.usedCells;
    if (e.type === "candidate-done" && e.kind === "CONCLUSION") atDone = Math.max(atDone, context.usedCells);
  };
  const t0 = performance.now();
  const result = await model.reason({
    context,
    question: config.question,
    image: config.image,
    strategy: config.strategy,
    width: config.width,
    judge: config.judge,
    fork: config.fork,
    seed: config.seed,
    forceStructure: "prefill",
    maxStageTokens: config.maxStageTokens,
    maxJudgeTokens: config.maxJudgeTokens,
    onEvent,
  });
  const seconds = (performance.now() - t0) / 1000;
  // What the CONCLUSION candidates add to their prefix, each counted in full: opening tag (prefilled),
  // generated tokens, and the closing tag when the budget closed it.
  const tags = Object.fromEntries(STAGES.map((s) => [s, { open: model.tokenize(stageOpening(s), { addSpecial: false }).length, close: model.tokenize(` ${closeTag(s)}`, { addSpecial: false }).length }]));
  const conclusions = result.tree.candidates.filter((c) => c.kind === "CONCLUSION" && c.round === 0);
  const suffixes = conclusions.reduce((sum, c) => sum + tags.CONCLUSION.open + c.tokens + (c.closedAtBudget ? tags.CONCLUSION.close : 0), 0);
  process.stdout.write(
    `${JSON.stringify({
      seconds,
      counts: result.counts,
      valid: result.tree.candidates.filter((c) => c.valid).length,
      judgements: result.tree.judgements.length,
      cells: { peak: context.peakUsedCells, conclusionPrefix: atStart, conclusionDone: atDone, conclusionSuffixes: suffixes },
      maxRssMiB: process.resourceUsage().maxRSS / 1024,
    })}\n`,
  );
  await context.dispose();
} finally {
  await model.dispose();
}
