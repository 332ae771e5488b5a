// reason()'s options are checked before a search: every bad name or number is INVALID_ARGUMENT naming
// the option; the defaults and every documented value pass.
import { describe, expect, test } from "vitest";
import { checkOptions } from "../../lib/reasoning/check-options.js";
import { resolveOptions, type ReasonOptions } from "../../lib/reasoning/options.js";

const check = (o: Partial<ReasonOptions>) => () => checkOptions(resolveOptions({ question: "q", ...o } as ReasonOptions));

describe("checkOptions", () => {
  test("defaults and documented values pass", () => {
    expect(check({})).not.toThrow();
    for (const forceStructure of ["off", "prefill", "grammar"] as const) expect(check({ forceStructure })).not.toThrow();
    for (const judge of ["generate", "logprob"] as const) expect(check({ judge })).not.toThrow();
    expect(check({ tournament: "knockout", scorer: "judge", fork: false, seed: 2 ** 32, temperature: 0, topP: 1, template: "chatml" })).not.toThrow();
    expect(check({ retrace: { maxRetraces: 0, threshold: 0 } })).not.toThrow();
    for (const questionSpecialTokens of ["text", "parse"] as const) expect(check({ questionSpecialTokens })).not.toThrow();
  });

  test.each([
    ["forceStructure", { forceStructure: "bogus" }],
    ["judge", { judge: "toString" }],
    ["tournament", { tournament: "" }],
    ["scorer", { scorer: 3 }],
    ["questionSpecialTokens", { questionSpecialTokens: "plain" }],
    ["questionSpecialTokens", { questionSpecialTokens: true }],
    ["seed", { seed: -1 }],
    ["seed", { seed: Number.NaN }],
    ["maxStageTokens", { maxStageTokens: 0 }],
    ["maxStageTokens", { maxStageTokens: 1.5 }],
    ["maxJudgeTokens", { maxJudgeTokens: Infinity }],
    ["temperature", { temperature: -1 }],
    ["topP", { topP: 2 }],
    ["topP", { topP: "0.9" }],
    ["fork", { fork: "yes" }],
    ["template", { template: "" }],
    ["retrace.captions", { retrace: { captions: 0 } }],
    ["retrace.threshold", { retrace: { threshold: Number.NaN } }],
  ])("bad %s is INVALID_ARGUMENT naming it", (name, o) => {
    expect(check(o as Partial<ReasonOptions>)).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT", message: expect.stringContaining(name) }));
  });
});
