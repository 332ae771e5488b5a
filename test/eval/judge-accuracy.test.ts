import { describe, expect, test } from "vitest";
import { rowJudging } from "../../lib/eval/judge-accuracy.js";
import type { CandidateRecord, JudgementRecord } from "../../lib/reasoning/trace.js";

const candidate = (id: number, kind: CandidateRecord["kind"], content: string, valid = true): CandidateRecord => ({
  id, kind, round: 0, index: id, seed: 0, text: content, content, tokens: 3, meanLogprob: -1, valid, won: false,
});
const pair = (kind: JudgementRecord["kind"], a: number, b: number, winner: number): JudgementRecord => ({ kind, type: "pairwise", candidates: [a, b], mode: "logprob", raw: "", winner, fellBack: false });

describe("rowJudging", () => {
  const item = { choices: { A: "red", B: "blue" }, answer: "B" };

  test("right answers among the final candidates; the judge's picks between a right and a wrong one", () => {
    const tree = {
      candidates: [candidate(0, "REASONING", "it is blue"), candidate(1, "CONCLUSION", "B"), candidate(2, "CONCLUSION", "red"), candidate(3, "CONCLUSION", "(B)"), candidate(4, "CONCLUSION", "A")],
      judgements: [
        pair("REASONING", 0, 0, 0), // not a final answer: not counted
        pair("CONCLUSION", 1, 2, 1), // right vs wrong, picked right
        pair("CONCLUSION", 3, 4, 4), // right vs wrong, picked wrong
        pair("CONCLUSION", 1, 3, 3), // both right: says nothing of the judge
        { kind: "REASONING", type: "reasoning-check", candidates: [0], mode: "logprob", raw: "", verdict: "correct", fellBack: false } as JudgementRecord,
      ],
    };
    expect(rowJudging(tree, item)).toEqual({ answers: 4, rightAnswers: 2, decisivePairs: 2, judgeRight: 1 });
  });

  test("best-of-n's whole answers are read by their CONCLUSION; an invalid candidate is not right", () => {
    const tree = {
      candidates: [candidate(0, "ANSWER", "<SUMMARY> s </SUMMARY>\n\n<CONCLUSION> B </CONCLUSION>"), candidate(1, "ANSWER", "<SUMMARY> B </SUMMARY>\n\n<CONCLUSION> A </CONCLUSION>"), candidate(2, "ANSWER", "B", false)],
      judgements: [pair("ANSWER", 0, 1, 0), pair("ANSWER", 0, 2, 2)],
    };
    expect(rowJudging(tree, item)).toEqual({ answers: 3, rightAnswers: 1, decisivePairs: 2, judgeRight: 1 });
  });

  test("no tree (a remote run): null", () => {
    expect(rowJudging(undefined, item)).toBeNull();
  });
});
