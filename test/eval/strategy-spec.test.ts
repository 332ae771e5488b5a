import { describe, expect, test } from "vitest";
import { parseStrategySpecs, specKey } from "../../lib/eval/strategy-spec.js";
import { strategies } from "../../lib/reasoning/reason.js";

describe("parseStrategySpecs", () => {
  test("NAME and NAME:WIDTH onto reason()'s strategies; keys name the judge of judged ones", () => {
    const specs = parseStrategySpecs("single, stage-beam:2,stage-beam:4,best-of-n:4,sentence-beam,retrace");
    expect(specs.map((s) => [s.strategy, s.width])).toEqual([
      ["single", undefined],
      ["stage-beam", 2],
      ["stage-beam", 4],
      ["best-of-n", 4],
      ["sentence-beam", undefined],
      ["retrace", undefined],
    ]);
    for (const s of specs) expect(Object.keys(strategies)).toContain(s.strategy);
    expect(specs.map((s) => specKey(s, "logprob"))).toEqual(["single", "stage-beam-2-logprob", "stage-beam-4-logprob", "best-of-n-4-logprob", "sentence-beam-2-logprob", "retrace"]);
  });

  test.each([
    ["fastest", /unknown strategy "fastest"/],
    ["single:2", /single takes no width/],
    ["stage-beam:0", /width must be an integer/],
    ["stage-beam:x", /width must be an integer/],
    ["stage-beam:2:3", /NAME or NAME:WIDTH/],
    ["single,,stage-beam", /empty strategy/],
    ["stage-beam,stage-beam:2", /listed twice/],
  ])("%j is refused", (list, message) => {
    expect(() => parseStrategySpecs(list)).toThrow(message);
  });
});
