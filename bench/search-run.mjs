#!/usr/bin/env node
// Staged-reasoning searches, timed, in one process:
//   node bench/search-run.mjs '{"setup": {...}, "searches": [{strategy, width, judge, fork}, ...]}'
// → one line of JSON per search on stdout. A process that runs one search reports its peak RSS (the
// memory rows run so); with several, later searches would inherit the earlier ones' peak, so none is
// reported. Each search gets a fresh context.
import { performance } from "node:perf_hooks";
import { loadModel } from "../dist/index.js";
import { closeTag, stageOpening, STAGES } from "../dist/reasoning/stages.js";

const { setup, searches } = JSON.parse(process.argv[2]);
const model = await loadModel({ path: setup.model, projector: setup.projector });
const tags = Object.fromEntries(
  STAGES.map((s) => [s, { open: model.tokenize(stageOpening(s), { addSpecial: false }).length, close: model.tokenize(` ${closeTag(s)}`, { addSpecial: false }).length }]),
);
try {
  for (const search of searches) {
    const context = await model.createContext({ contextSize: setup.contextSize, sequences: 64, threads: setup.threads, prefixCache: { sequences: 2 } });
    // Warm-up on text only (weights paged in, compute buffers and threads up), as llama-bench does; the
    // image's encode stays in the timing of every search alike.
    const warm = await context.createSequenceFrom("Warm up the weights.");
    await context.generate([warm], { maxTokens: 2, ignoreEog: true }).result();
    await warm.dispose();
    await context.prefixCache.clear();
    context.resetPeakCells();

    // KV cells when the CONCLUSION stage starts (its prefix: image, question, three winning stages) and
    // when its candidates are all written (that prefix plus every candidate's own tokens).
    let atStart = null;
    let atDone = 0;
    // Where the time goes: "prompt" (image and question) until the first stage starts, "candidates" from a
    // stage's start until its last candidate is done (and the winner's tags after it), "judging" from then
    // until the stage's winner is known. Each phase's wall time and forward passes (the scheduler's native
    // timings), from the context's counters at every change of phase.
    const phases = Object.fromEntries(["prompt", "candidates", "judging"].map((p) => [p, { seconds: 0, forwardSeconds: 0, tokens: 0, decodeCalls: 0 }]));
    const counters = context.scheduler.stats; // @internal: the native timings of every decode call
    let phase = "prompt";
    let mark; // the counters when the current phase began (set when the search starts)
    const enter = (next) => {
      const now = { t: performance.now(), ...counters };
      const p = phases[phase];
      p.seconds += (now.t - mark.t) / 1000;
      p.forwardSeconds += (now.forwardMs - mark.forwardMs) / 1000;
      p.tokens += now.tokensDecoded - mark.tokensDecoded;
      p.decodeCalls += now.decodeCalls - mark.decodeCalls;
      phase = next;
      mark = now;
    };
    let pending = 0;
    const onEvent = (e) => {
      if (e.type === "stage-start" && e.kind === "CONCLUSION" && atStart === null) atStart = context.usedCells;
      if (e.type === "candidate-done" && e.kind === "CONCLUSION") atDone = Math.max(atDone, context.usedCells);
      if (e.type === "stage-start") {
        pending = e.candidates;
        enter("candidates");
      }
      if (e.type === "candidate-done" && --pending === 0) enter("judging");
      if (e.type === "stage-winner") enter("candidates");
    };
    const t0 = performance.now();
    mark = { t: t0, ...counters };
    const result = await model.reason({
      context,
      question: setup.question,
      image: setup.image,
      strategy: search.strategy,
      width: search.width,
      judge: search.judge ?? "generate",
      fork: search.fork,
      seed: setup.seed,
      forceStructure: "prefill",
      maxStageTokens: setup.maxStageTokens,
      maxJudgeTokens: setup.maxJudgeTokens,
      onEvent,
    });
    const seconds = (performance.now() - t0) / 1000;
    enter(phase);
    // What the first round of CONCLUSION candidates adds to its prefix, each counted in full: opening tag
    // (prefilled), generated tokens, and the closing tag when the budget closed it.
    const conclusions = result.tree.candidates.filter((c) => c.kind === "CONCLUSION" && c.round === 0);
    const suffixes = conclusions.reduce((sum, c) => sum + tags.CONCLUSION.open + c.tokens + (c.closedAtBudget ? tags.CONCLUSION.close : 0), 0);
    process.stdout.write(
      `${JSON.stringify({
        ...search,
        seconds,
        counts: result.counts,
        valid: result.tree.candidates.filter((c) => c.valid).length,
        judgements: result.tree.judgements.length,
        problems: result.problems.length,
        phases,
        cells: { peak: context.peakUsedCells, conclusionPrefix: atStart, conclusionDone: atDone, conclusionSuffixes: suffixes },
        maxRssMiB: searches.length === 1 ? process.resourceUsage().maxRSS / 1024 : null,
      })}\n`,
    );
    await context.dispose();
  }
} finally {
  await model.dispose();
}
