// Judges: the pairwise self-judge (the same model, seeing the image through a fork of the cached image
// prefix) in two modes — "generate", the paper's: the judge writes its reason and its choice; "logprob",
// ours: the answer form is prefilled up to the choice and the logprobs of "1" and "2" decide, with one
// prefill and no decoding — and the text-only reasoning check. Every pair of a round is judged in one
// batch.
import type { EngineSequence } from "../engine/types.js";
import { FORCED_CHOICE_PREFIX, FORCED_VERDICT_PREFIX, pairwisePrompt, parseChoice, parseVerdict, reasoningCheckPrompt } from "./judge-prompts.js";
import { bestByMeanLogprob, type Candidate, type SearchRun } from "./search.js";
import { deriveSeed } from "./seeds.js";
import type { CandidateKind } from "./trace.js";

export interface Match {
  first: Candidate;
  second: Candidate;
}

/**
 * Whether a pairwise judgement may rest on the candidates' mean logprob: in generate mode, an answer
 * that does not parse falls back to it (so the candidates must be sampled with logprobs).
 */
export function judgeMayFallBackToMeanLogprob(run: SearchRun): boolean {
  return run.options.judge === "generate";
}

/** Judges every match in one batch; returns each match's winner. */
export async function judgePairs(run: SearchRun, kind: CandidateKind, matches: Match[], round: number, hint?: string): Promise<Candidate[]> {
  if (matches.length === 0) return [];
  const { question } = run.options;
  const prompts = matches.map((m) => pairwisePrompt(kind, question, m.first.record.content, m.second.record.content, hint));
  const sequences = await Promise.all(prompts.map((p) => run.judgeSequence(p, true)));
  try {
    if (run.options.judge === "logprob") {
      const scores = await Promise.all(sequences.map((s) => choiceLogprobs(run, s, FORCED_CHOICE_PREFIX, ["1", "2"])));
      run.judgeCalls += matches.length;
      return matches.map((m, i) => {
        const [p1, p2] = scores[i]!;
        const winner = p1! >= p2! ? m.first : m.second;
        record(run, kind, m, winner, `${FORCED_CHOICE_PREFIX} … logprob(1)=${p1!.toFixed(4)} logprob(2)=${p2!.toFixed(4)}`, false);
        return winner;
      });
    }
    const results = await run.engine
      .generate(
        sequences.map((sequence, i) => ({
          sequence,
          maxTokens: run.options.maxJudgeTokens,
          sampling: { temperature: run.options.temperature, topP: run.options.topP, seed: deriveSeed(run.options.seed, "judge", kind, round, i) },
        })),
        { signal: run.options.signal },
      )
      .result();
    run.judgeCalls += matches.length;
    return matches.map((m, i) => {
      const raw = results[i]!.text;
      const choice = parseChoice(raw);
      // Unparseable: the reference counted it as a win for 2; we fall back to mean token logprob.
      const winner = choice === null ? bestByMeanLogprob([m.first, m.second]) : choice === 0 ? m.first : m.second;
      record(run, kind, m, winner, raw, choice === null);
      return winner;
    });
  } finally {
    await run.release(...sequences);
  }
}

function record(run: SearchRun, kind: CandidateKind, m: Match, winner: Candidate, raw: string, fellBack: boolean): void {
  run.judgements.push({
    kind,
    type: "pairwise",
    candidates: [m.first.record.id, m.second.record.id],
    mode: run.options.judge,
    raw,
    winner: winner.record.id,
    fellBack,
  });
  if (fellBack) run.problems.push(`judge answer for candidates ${m.first.record.id} and ${m.second.record.id} did not parse; decided by mean logprob`);
  run.emit({
    type: "judgement",
    stage: kind,
    pair: [m.first.record.id, m.second.record.id],
    winner: winner.record.id,
    raw,
    fellBack,
  });
}

/**
 * Logprobs of each option continuing `forced` on the sequence: the forced words are evaluated once, and
 * the first token where the options' tokenizations differ is read from the same distribution.
 */
async function choiceLogprobs(run: SearchRun, sequence: EngineSequence, forced: string, options: string[]): Promise<number[]> {
  const variants = options.map((o) => run.engine.tokenize(`${forced} ${o}`, { addSpecial: false }));
  let k = 0;
  while (variants.every((v) => k < v.length - 1 && v[k] === variants[0]![k])) k++;
  const { next } = await sequence.evaluate(variants[0]!.slice(0, k), {
    signal: run.options.signal,
    logprobs: { probes: variants.map((v) => v[k]!) },
  });
  return next!.probes;
}

/**
 * The reasoning check (REASONING stage, before the pairwise judge): is each reasoning correct, given the
 * caption as trusted information? Text only, no image. A missing reasoning counts as incorrect.
 */
export async function checkReasonings(run: SearchRun, candidates: Candidate[], caption: string, round: number): Promise<Map<number, "correct" | "incorrect">> {
  const verdicts = new Map<number, "correct" | "incorrect">();
  const toCheck = candidates.filter((c) => {
    if (c.record.content.trim().length > 0) return true;
    verdicts.set(c.record.id, "incorrect");
    return false;
  });
  if (toCheck.length === 0) return verdicts;
  const prompts = toCheck.map((c) => reasoningCheckPrompt(run.options.question, caption, c.record.content));
  const sequences = await Promise.all(prompts.map((p) => run.judgeSequence(p, false)));
  // Where a verdict is read by logprob (logprob mode, or an answer that does not parse): the check prompt
  // itself in logprob mode; in generate mode a fork of it taken before the answer is written (free) —
  // with forking off, a fresh prefill when needed.
  let readers: EngineSequence[] | null = null;
  try {
    if (run.options.judge === "logprob") readers = sequences;
    else if (run.options.fork) readers = await Promise.all(sequences.map(async (s) => run.track(await s.fork())));
    let raws: (string | null)[] = toCheck.map(() => null);
    if (run.options.judge === "generate") {
      const results = await run.engine
        .generate(
          sequences.map((sequence, i) => ({
            sequence,
            maxTokens: run.options.maxJudgeTokens,
            sampling: { temperature: run.options.temperature, topP: run.options.topP, seed: deriveSeed(run.options.seed, "check", round, i) },
          })),
          { signal: run.options.signal },
        )
        .result();
      raws = results.map((r) => r.text);
    }
    // Recorded only once every check is done, so a retried call (full context) leaves no duplicates.
    const records: typeof run.judgements = [];
    const notes: string[] = [];
    for (const [i, c] of toCheck.entries()) {
      const parsed = raws[i] === null ? null : parseVerdict(raws[i]!);
      let verdict = parsed;
      let raw = raws[i] ?? "";
      if (verdict === null) {
        const reader = readers?.[i] ?? (await run.judgeSequence(prompts[i]!, false));
        const [pc, pi] = await choiceLogprobs(run, reader, FORCED_VERDICT_PREFIX, ["correct", "incorrect"]);
        if (!readers) await run.release(reader);
        verdict = pc! >= pi! ? "correct" : "incorrect";
        raw = `${raw ? `${raw}\n` : ""}${FORCED_VERDICT_PREFIX} … logprob(correct)=${pc!.toFixed(4)} logprob(incorrect)=${pi!.toFixed(4)}`;
      }
      const fellBack = run.options.judge === "generate" && parsed === null;
      if (fellBack) notes.push(`reasoning check of candidate ${c.record.id} did not parse; decided by logprob`);
      verdicts.set(c.record.id, verdict);
      records.push({ kind: "REASONING", type: "reasoning-check", candidates: [c.record.id], mode: run.options.judge, raw, verdict, fellBack });
    }
    run.judgements.push(...records);
    run.problems.push(...notes);
    run.judgeCalls += toCheck.length;
    return verdicts;
  } finally {
    await run.release(...sequences, ...(readers && readers !== sequences ? readers : []));
  }
}
