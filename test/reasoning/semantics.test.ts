// Search semantics on a scripted engine: what is judged, how often, in which batches, and what wins.
import { describe, expect, test } from "vitest";
import { reason } from "../../lib/reasoning/reason.js";
import { sentenceEnd } from "../../lib/reasoning/strategies/sentence-beam.js";
import { parseChoice, parseVerdict } from "../../lib/reasoning/judge-prompts.js";
import { parseStage, StageTracker } from "../../lib/reasoning/stages.js";
import type { ReasonOptions } from "../../lib/reasoning/options.js";
import { FakeEngine, isPairwiseJudge, isReasoningCheck, responses, stageOf, type Script, type ScriptRequest } from "./fake-engine.js";

const question = "How many apples are on the table?";

/** Well-formed candidates named by stage and request order; judges choose response 1; checks say correct. */
function scripted(overrides: { candidate?: (stage: string, n: number, r: ScriptRequest) => string | { text: string; logprob?: number }; judge?: (r: ScriptRequest) => string; check?: (r: ScriptRequest) => string } = {}): Script {
  const counts = new Map<string, number>();
  return (r) => {
    if (isPairwiseJudge(r)) return overrides.judge?.(r) ?? "Since it is more complete, I choose response 1.";
    if (isReasoningCheck(r)) return overrides.check?.(r) ?? "The steps hold.\ncorrect";
    const stage = stageOf(r) ?? "ANSWER";
    const n = counts.get(stage) ?? 0;
    counts.set(stage, n + 1);
    return overrides.candidate?.(stage, n, r) ?? `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`;
  };
}

const run = (engine: FakeEngine, options: Partial<ReasonOptions>) => reason(engine, { question, seed: 1, ...options });

describe("stage-beam", () => {
  test("N − 1 pairwise judgements per stage; a bracket round's pairs are judged in one batch", async () => {
    const engine = new FakeEngine(scripted());
    const result = await run(engine, { strategy: "stage-beam", width: 4 });
    for (const kind of ["SUMMARY", "CAPTION", "REASONING", "CONCLUSION"]) {
      expect(result.tree.judgements.filter((j) => j.kind === kind && j.type === "pairwise")).toHaveLength(3);
    }
    // per stage: 4 candidates in one batch, then 2 judges together, then the final; REASONING checks first
    expect(engine.generateCalls).toEqual([4, 2, 1, 4, 2, 1, 4, 4, 2, 1, 4, 2, 1]);
    expect(result.conclusion).toBe("conclusion-0");
    expect(engine.live.size).toBe(0); // every sequence released
  });

  test("the knockout takes N − 1 judgements one at a time, drawn by the seed", async () => {
    const a = new FakeEngine(scripted());
    const resultA = await run(a, { strategy: "stage-beam", width: 4, tournament: "knockout" });
    expect(a.generateCalls.slice(0, 4)).toEqual([4, 1, 1, 1]);
    expect(resultA.tree.judgements.filter((j) => j.kind === "SUMMARY")).toHaveLength(3);
    const b = new FakeEngine(scripted());
    const resultB = await run(b, { strategy: "stage-beam", width: 4, tournament: "knockout" });
    expect(resultB.tree.judgements.map((j) => j.candidates)).toEqual(resultA.tree.judgements.map((j) => j.candidates));
    const pairs = resultA.tree.judgements.filter((j) => j.kind === "SUMMARY").map((j) => j.candidates);
    const bracketPairs = [[0, 1], [2, 3]];
    expect(pairs.slice(0, 2)).not.toEqual(bracketPairs); // random draws, not the bracket's order
  });

  test("malformed candidates are excluded before pairing; the judge sees only valid ones", async () => {
    const engine = new FakeEngine(scripted({ candidate: (stage, n) => (stage === "SUMMARY" && n === 1 ? "<SUMMARY> cut off" : `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`) }));
    const judged: [string, string][] = [];
    const inner = engine.script;
    (engine as { script: Script }).script = (r) => {
      if (isPairwiseJudge(r) && r.text.includes("outlines")) judged.push(responses(r));
      return inner(r);
    };
    const result = await run(engine, { strategy: "stage-beam", width: 3 });
    const summaries = result.tree.candidates.filter((c) => c.kind === "SUMMARY");
    expect(summaries.map((c) => c.valid)).toEqual([true, false, true]);
    expect(summaries[1]!.problem).toContain("missing </SUMMARY>");
    expect(judged).toEqual([["summary-0", "summary-2"]]);
    expect(result.problems.some((p) => p.includes("malformed"))).toBe(true);
  });

  test("a single valid candidate wins unopposed", async () => {
    const engine = new FakeEngine(scripted({ candidate: (stage, n) => (stage === "CAPTION" && n === 0 ? "no tags here" : `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`) }));
    const result = await run(engine, { strategy: "stage-beam", width: 2 });
    expect(result.tree.judgements.filter((j) => j.kind === "CAPTION")).toHaveLength(0);
    expect(result.stages.CAPTION).toBe("caption-1");
  });

  test("no valid candidate: sample once more, then keep the best by mean logprob", async () => {
    const engine = new FakeEngine(
      scripted({ candidate: (stage, n) => (stage === "SUMMARY" ? { text: `<SUMMARY> broken-${n}`, logprob: n === 2 ? -0.1 : -2 } : `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`) }),
    );
    const result = await run(engine, { strategy: "stage-beam", width: 2 });
    expect(result.tree.candidates.filter((c) => c.kind === "SUMMARY")).toHaveLength(4); // two rounds of two
    expect(result.stages.SUMMARY).toBe("broken-2");
    expect(result.problems.some((p) => p.includes("sampling once more"))).toBe(true);
    expect(result.problems.some((p) => p.includes("best by mean logprob"))).toBe(true);
  });
});

describe("forking off (the reference's way, for measurement)", () => {
  const image = Buffer.from("not decoded by the fake engine");

  test("the same search: same requests, same tree; nothing forked or cached, the image evaluated by every candidate and judge", async () => {
    const forked = new FakeEngine(scripted());
    const unforked = new FakeEngine(scripted());
    const a = await run(forked, { strategy: "stage-beam", width: 4, image });
    const b = await run(unforked, { strategy: "stage-beam", width: 4, image, fork: false });
    expect(unforked.requests).toEqual(forked.requests);
    expect(b.tree).toEqual(a.tree);
    expect(b.text).toBe(a.text);
    // forked: the question once, and once per stage the judges' shared lead (through createSequenceFrom,
    // which a real context serves from its prefix cache: one image encode in all, reason.test.ts; this
    // fake has no cache), and the reasoning checks' text-only lead once
    expect(forked.stats.imageEncodes).toBe(1 + 4);
    expect(forked.cacheLookups).toBe(1 + 4 + 1);
    expect(unforked.forks).toBe(0);
    expect(unforked.cacheLookups).toBe(0);
    // 4 candidates and 3 pairwise judges per stage see the image; the reasoning checks are text only
    expect(unforked.stats.imageEncodes).toBe(4 * 4 + 4 * 3);
    expect(unforked.live.size).toBe(0);
  });

  test("text appended to a prefix between steps is replayed by every candidate (sentence beam)", async () => {
    const script: Script = (r) => (isPairwiseJudge(r) ? "I choose response 1" : isReasoningCheck(r) ? "correct" : "One step.");
    const forked = new FakeEngine(script);
    const unforked = new FakeEngine(script);
    const a = await run(forked, { strategy: "sentence-beam", width: 2, image, forceStructure: "prefill" });
    const b = await run(unforked, { strategy: "sentence-beam", width: 2, image, forceStructure: "prefill", fork: false });
    expect(unforked.requests).toEqual(forked.requests);
    expect(b.text).toBe(a.text);
    expect(unforked.forks).toBe(0);
  });
});

describe("judges' shared lead", () => {
  test("the judges of a stage evaluate instruction, question and hint once and fork it; each judge sees its whole prompt", async () => {
    const engine = new FakeEngine(scripted());
    await run(engine, { strategy: "stage-beam", width: 4, image: Buffer.from("x") });
    const judges = engine.requests.filter((t) => t.includes("You are judging two candidate responses"));
    expect(judges).toHaveLength(12);
    for (const t of judges) {
      expect(t).toMatch(/^\[user\] <image>You are judging two candidate responses.*\nQuestion: .*\nResponse 1: .*\nResponse 2: .*\n/s);
    }
    expect(engine.cacheLookups).toBe(1 + 4 + 1); // the question, one lead per stage, the checks' lead
    expect(engine.forks).toBeGreaterThanOrEqual(12 + 4);
    expect(engine.live.size).toBe(0); // leads released with their stage
  });
});

describe("prefilled structure", () => {
  test("a stage cut off by its token budget is closed, so it stays well formed", async () => {
    const engine = new FakeEngine(scripted({ candidate: (stage, n) => (stage === "CAPTION" ? `a long caption that runs on ${n}` : `x${n} </${stage}>`) }));
    const result = await run(engine, { strategy: "stage-beam", width: 2, forceStructure: "prefill", maxStageTokens: 16 });
    const captions = result.tree.candidates.filter((c) => c.kind === "CAPTION");
    expect(captions.map((c) => [c.valid, c.closedAtBudget])).toEqual([[true, true], [true, true]]);
    expect(captions[0]!.text).toBe("\n\n<CAPTION> a long caption t </CAPTION>");
    expect(result.stages.CAPTION).toBe("a long caption t");
    expect(result.tree.candidates.filter((c) => c.kind === "SUMMARY").every((c) => c.valid && !c.closedAtBudget)).toBe(true);
    // the closing tag is in the winner's sequence: the next stage continues after it
    expect(engine.requests.find((t) => t.includes("<REASONING>"))).toContain("a long caption t </CAPTION>\n\n<REASONING> ");
  });
});

describe("the reasoning check before the pairwise judge", () => {
  const withVerdicts = (first: string, second: string, judge = "I choose response 2") =>
    new FakeEngine(
      scripted({
        candidate: (stage, n) => `<${stage}> ${stage === "REASONING" ? ["reasoning-A", "reasoning-B"][n] : stage.toLowerCase()} </${stage}>`,
        check: (r) => (r.text.includes("reasoning-A") ? first : second),
        judge: () => judge,
      }),
    );
  const reasoningJudgements = (result: Awaited<ReturnType<typeof reason>>) =>
    result.tree.judgements.filter((j) => j.kind === "REASONING" && j.type === "pairwise");

  test("first incorrect: the second wins without a pairwise judgement", async () => {
    const result = await run(withVerdicts("Wrong count.\nIncorrect", "Fine.\ncorrect", "I choose response 1"), { strategy: "stage-beam", width: 2 });
    expect(result.stages.REASONING).toBe("reasoning-B");
    expect(reasoningJudgements(result)).toHaveLength(0);
  });

  test("first correct, second incorrect: the first wins without a pairwise judgement", async () => {
    const result = await run(withVerdicts("Fine.\nCORRECT", "Off by one.\nincorrect."), { strategy: "stage-beam", width: 2 });
    expect(result.stages.REASONING).toBe("reasoning-A");
    expect(reasoningJudgements(result)).toHaveLength(0);
  });

  test("both correct: the pairwise judge decides", async () => {
    const result = await run(withVerdicts("correct", "correct"), { strategy: "stage-beam", width: 2 });
    expect(result.stages.REASONING).toBe("reasoning-B");
    expect(reasoningJudgements(result)).toHaveLength(1);
  });

  test.each(["logprob", "generate"] as const)("in %s mode a verdict read by logprob does not evaluate the check's prompt again", async (judge) => {
    // generate mode: the check's answer does not parse, so the verdict is read by logprob
    const engine = new FakeEngine(scripted({ check: () => "hmm" }), (_text, option) => (option === "c" ? -0.1 : -3));
    const result = await run(engine, { strategy: "stage-beam", width: 2, judge });
    expect(result.tree.judgements.filter((j) => j.type === "reasoning-check").map((j) => j.verdict)).toEqual(["correct", "correct"]);
    // the question, one pairwise judge's lead per stage, the checks' shared lead: nothing more
    expect(engine.cacheLookups).toBe(1 + 4 + 1);
    expect(engine.live.size).toBe(0);
  });

  test("'incorrect' is read from the last line only, case-insensitively", () => {
    expect(parseVerdict("This is not incorrect at all.\nCorrect")).toBe("correct");
    expect(parseVerdict("Looks correct at first.\nINCORRECT")).toBe("incorrect");
    expect(parseVerdict("I am unsure")).toBeNull();
  });
});

describe("judge answers", () => {
  test("an unparseable judge falls back to mean logprob and is marked so", async () => {
    const engine = new FakeEngine(
      scripted({
        candidate: (stage, n) => ({ text: `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`, logprob: n === 1 ? -0.5 : -3 }),
        judge: () => "Both are fine, honestly.",
      }),
    );
    const result = await run(engine, { strategy: "stage-beam", width: 2 });
    const summary = result.tree.judgements.find((j) => j.kind === "SUMMARY")!;
    expect(summary.fellBack).toBe(true);
    expect(result.stages.SUMMARY).toBe("summary-1");
    expect(result.problems.some((p) => p.includes("did not parse"))).toBe(true);
  });

  test("the choice is parsed from the answer form; anything else is no choice", () => {
    expect(parseChoice("Since it counts better, I choose response 2.")).toBe(1);
    expect(parseChoice("i choose Response [1]")).toBe(0);
    expect(parseChoice("Response 2 is nicer")).toBeNull();
  });

  test("logprob mode reads the choice from one prefill, with no decoding", async () => {
    const engine = new FakeEngine(scripted(), (_text, option) => (option === "2" ? -0.1 : -2));
    const result = await run(engine, { strategy: "stage-beam", width: 2, judge: "logprob" });
    expect(result.stages.SUMMARY).toBe("summary-1");
    expect(result.tree.judgements.every((j) => j.mode === "logprob" && !j.fellBack)).toBe(true);
    // only the candidates were generated: one batch of 2 per stage
    expect(engine.generateCalls).toEqual([2, 2, 2, 2]);
  });
});

describe("token logprobs are read only where a decision may rest on them", () => {
  const asJudge = (text: string) => ({ text, stop: [], seed: undefined, grammar: undefined });
  const judgeRequest = (text: string) => isPairwiseJudge(asJudge(text)) || isReasoningCheck(asJudge(text));

  test("generate judge: the candidates ask (an unparseable answer falls back to them), the judges do not", async () => {
    const engine = new FakeEngine(scripted());
    const result = await run(engine, { strategy: "stage-beam", width: 2 });
    const candidates = engine.requests.filter((t) => !judgeRequest(t));
    expect(engine.logprobRequests).toEqual(candidates);
    expect(candidates).toHaveLength(8);
    expect(result.tree.candidates.every((c) => c.meanLogprob === -1)).toBe(true);
  });

  test.each([
    ["logprob judge", { strategy: "stage-beam", width: 4, judge: "logprob" }],
    ["single", { strategy: "single" }],
    ["retrace with a verifier", { strategy: "retrace", verifier: async () => 0.9 }],
    ["retrace scored by the judge", { strategy: "retrace", scorer: "judge" }],
  ] as const)("%s: nothing asks, and the tree records no mean logprob", async (_, options) => {
    const engine = new FakeEngine(scripted(), () => -1);
    const result = await run(engine, options);
    expect(engine.logprobRequests).toEqual([]);
    expect(result.tree.candidates.every((c) => c.meanLogprob === undefined)).toBe(true);
  });

  test("logprob judge with no valid candidate: the resample asks, and the best by mean logprob is kept", async () => {
    const engine = new FakeEngine(
      scripted({ candidate: (stage, n) => (stage === "SUMMARY" ? { text: `<SUMMARY> broken-${n}`, logprob: n === 3 ? -0.5 : -2 } : `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`) }),
      () => -1,
    );
    const result = await run(engine, { strategy: "stage-beam", width: 2, judge: "logprob" });
    expect(result.stages.SUMMARY).toBe("broken-3");
    expect(result.problems.some((p) => p.includes("best by mean logprob"))).toBe(true);
    const summaries = result.tree.candidates.filter((c) => c.kind === "SUMMARY");
    expect(summaries.map((c) => c.meanLogprob)).toEqual([undefined, undefined, -2, -0.5]);
    expect(engine.logprobRequests).toHaveLength(2); // the resample's two candidates only
  });

  test("best-of-n with no well-formed answer keeps the best by mean logprob", async () => {
    const engine = new FakeEngine(scripted({ candidate: (_, n) => ({ text: `<SUMMARY> unfinished-${n}`, logprob: n === 1 ? -0.2 : -1.5 }) }), () => -1);
    const result = await run(engine, { strategy: "best-of-n", width: 3, judge: "logprob" });
    expect(result.text).toBe("<SUMMARY> unfinished-1");
    expect(engine.logprobRequests).toHaveLength(3);
  });

  test("retrace scored by mean token probability: every caption, reasoning and conclusion asks", async () => {
    const engine = new FakeEngine(
      scripted({ candidate: (stage, n) => ({ text: `<${stage}> ${stage.toLowerCase()}-${n} </${stage}>`, logprob: stage === "REASONING" ? -0.01 * (n + 1) : -0.1 }) }),
    );
    const result = await run(engine, { strategy: "retrace", retrace: { maxRetraces: 0 } });
    const scored = result.tree.candidates.filter((c) => c.kind !== "SUMMARY");
    expect(scored.every((c) => c.meanLogprob !== undefined)).toBe(true);
    // reasoning-0 has the highest mean logprob, so the highest score
    expect(result.stages.REASONING).toBe("reasoning-0");
    const reasoning0 = result.tree.candidates.find((c) => c.kind === "REASONING" && c.content === "reasoning-0")!;
    expect(reasoning0.score).toBeCloseTo(Math.exp(-0.01), 10);
  });
});

describe("sentence-level beam", () => {
  test("a dot inside a number is no sentence end", () => {
    expect(sentenceEnd("Pi is 3.14 and e is 2.71. Next one.")).toBe("Pi is 3.14 and e is 2.71.".length);
    expect(sentenceEnd("Version 1.2.3 is out")).toBe(-1);
    expect(sentenceEnd("Really? Yes")).toBe("Really?".length);
  });
});

describe("retrace (SWIRES)", () => {
  const engine = () => new FakeEngine(scripted());
  const captionRounds = (result: Awaited<ReturnType<typeof reason>>) => new Set(result.tree.candidates.filter((c) => c.kind === "CAPTION").map((c) => c.round)).size;

  test("stops as soon as the second-best reasoning clears the threshold", async () => {
    const result = await run(engine(), { strategy: "retrace", verifier: async () => 0.9 });
    expect(captionRounds(result)).toBe(1);
  });

  test("retraces at most maxRetraces times when scores stay low", async () => {
    const result = await run(engine(), { strategy: "retrace", verifier: async () => 0.1, retrace: { maxRetraces: 2 } });
    expect(captionRounds(result)).toBe(3);
    expect(result.tree.candidates.filter((c) => c.kind === "CAPTION")).toHaveLength(12);
  });

  test("writes one conclusion for each of the top 3 reasonings and returns the best-scored answer", async () => {
    // reasoning-k scores by k; the full answer built on reasoning-1 scores highest
    const verifier = async (stage: string, text: string) => {
      if (stage === "REASONING") return 0.1 + Number(/reasoning-(\d+)/.exec(text)?.[1] ?? 0) / 100;
      if (stage === "ANSWER") return text.includes("reasoning-1 ") ? 0.95 : 0.2;
      return 0.5;
    };
    const result = await run(engine(), { strategy: "retrace", verifier, retrace: { maxRetraces: 0 } });
    const conclusions = result.tree.candidates.filter((c) => c.kind === "CONCLUSION");
    expect(conclusions).toHaveLength(3);
    expect(result.stages.REASONING).toBe("reasoning-1");
    const reasoningScores = result.tree.candidates.filter((c) => c.kind === "REASONING").map((c) => c.score!);
    expect(reasoningScores).toHaveLength(4);
  });
});

test("token events say which stage each candidate is writing, across stages of a whole answer", async () => {
  const engine = new FakeEngine(() => "<SUMMARY> s </SUMMARY>\n\n<CAPTION> c </CAPTION>\n\n<REASONING> r </REASONING>\n\n<CONCLUSION> done </CONCLUSION>");
  const stages: (string | null)[] = [];
  const result = await reason(engine, {
    question,
    strategy: "best-of-n",
    width: 1,
    onEvent: (e) => {
      if (e.type === "candidate-token") stages.push(e.stage);
    },
  });
  expect(result.conclusion).toBe("done");
  expect(stages).toEqual(["CONCLUSION"]); // the fake streams the whole answer as one piece
});

test("the stage tracker follows tags split across chunks, in new text only", () => {
  const t = new StageTracker();
  for (const chunk of ["<SUMM", "ARY> plan </SUMMARY>\n\n<CAP", "TION> a cat"]) t.push(chunk);
  expect(t.current).toBe("CAPTION");
  expect(t.closed("SUMMARY")).toBe(true);
  expect(t.closed("CAPTION")).toBe(false);
});

test("stage parsing is robust: missing tags are reported, never thrown", () => {
  expect(parseStage("<SUMMARY> plan </SUMMARY>", "SUMMARY")).toEqual({ content: "plan", wellFormed: true });
  expect(parseStage("<SUMMARY> plan", "SUMMARY")).toMatchObject({ content: "plan", wellFormed: false });
  expect(parseStage("<SUMMARY> a </SUMMARY>", "CAPTION")).toMatchObject({ content: "", wellFormed: false });
  expect(parseStage("an untagged answer", "CONCLUSION")).toMatchObject({ content: "an untagged answer", wellFormed: false });
});
