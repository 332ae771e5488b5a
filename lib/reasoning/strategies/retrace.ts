// SWIRES, stage-wise retracing search (the paper's final version): one SUMMARY; then rounds of CAPTIONs
// (keep the best by score) each followed by REASONINGs, pooled and scored; when the second-best
// reasoning clears the threshold the search stops, otherwise it goes back to CAPTION for another round
// (a bounded number of times); finally one CONCLUSION for each of the top reasonings, the full answers
// scored, the best returned. The scorer is pluggable (verifier, judge, mean token probability).
import { chooseStage, type StageTexts } from "../choose-stage.js";
import { score, scoresByMeanLogprob } from "../scorers.js";
import type { Candidate, SearchRun } from "../search.js";
import type { StrategyOutcome } from "./strategy.js";

interface Pooled {
  caption: Candidate;
  reasoning: Candidate;
  score: number;
}

export async function retrace(run: SearchRun): Promise<StrategyOutcome> {
  const o = run.options.retrace;
  const question = await run.prefixFrom(run.questionInput());
  const summary = await chooseStage(run, question, "SUMMARY", 1, {});
  await run.release(question);
  const base: StageTexts = { SUMMARY: summary.record.content };
  const logprobs = scoresByMeanLogprob(run);

  const pool: Pooled[] = [];
  const keptCaptions: Candidate[] = [];
  for (let round = 0; round <= o.maxRetraces; round++) {
    run.emit({ type: "stage-start", kind: "CAPTION", candidates: o.captions, round });
    const captions = await run.sample(summary.sequence, o.captions, { kind: "CAPTION", round, logprobs });
    for (const c of captions) await score(run, "CAPTION", c, base);
    const ranked = [...captions].sort((a, b) => b.record.score! - a.record.score!);
    const kept = ranked.slice(0, o.keepCaptions).filter((c) => c.record.valid);
    await run.release(...captions.filter((c) => !kept.includes(c)).map((c) => c.sequence));
    keptCaptions.push(...kept);

    run.emit({ type: "stage-start", kind: "REASONING", candidates: kept.length * o.reasoningsPerCaption, round });
    const prefixes = kept.flatMap((c) => Array.from({ length: o.reasoningsPerCaption }, () => c.sequence));
    const reasonings = prefixes.length ? await run.sampleEach(prefixes, { kind: "REASONING", round, logprobs }) : [];
    for (const [i, r] of reasonings.entries()) {
      const caption = kept[Math.floor(i / o.reasoningsPerCaption)]!;
      pool.push({ caption, reasoning: r, score: await score(run, "REASONING", r, { ...base, CAPTION: caption.record.content }) });
    }
    pool.sort((a, b) => b.score - a.score);
    if (pool.length >= 2 && pool[1]!.score >= o.threshold) break;
  }

  const finalists = pool.slice(0, o.finalists);
  await run.release(...pool.slice(o.finalists).map((p) => p.reasoning.sequence));
  await run.release(summary.sequence, ...keptCaptions.map((c) => c.sequence));
  if (finalists.length === 0) throw new Error("retrace produced no reasoning to conclude from");

  run.emit({ type: "stage-start", kind: "CONCLUSION", candidates: finalists.length, round: 0 });
  const conclusions = await run.sampleEach(finalists.map((f) => f.reasoning.sequence), { kind: "CONCLUSION", logprobs });
  await run.release(...finalists.map((f) => f.reasoning.sequence));
  let best = 0;
  let bestScore = -Infinity;
  for (const [i, c] of conclusions.entries()) {
    const f = finalists[i]!;
    const answer = [summary, f.caption, f.reasoning, c].map((x) => x.record.text).join("");
    const s = await score(run, "ANSWER", { ...c, record: { ...c.record, content: answer } }, {});
    c.record.score = s;
    if (s > bestScore) [best, bestScore] = [i, s];
  }
  await run.release(...conclusions.map((c) => c.sequence));
  const f = finalists[best]!;
  const winner = conclusions[best]!;
  for (const c of [f.caption, f.reasoning, winner]) c.record.won = true;
  return {
    stages: { SUMMARY: summary.record.content, CAPTION: f.caption.record.content, REASONING: f.reasoning.record.content, CONCLUSION: winner.record.content },
    text: [summary, f.caption, f.reasoning, winner].map((x) => x.record.text).join(""),
  };
}
