// Inputs the fuzz harness found breaking the promise (an untyped error, a crash or a hang), kept as
// cases described by their class, mutator and parameters, and run as the harness runs them: each in a
// worker process with a time limit, so a regression fails this test instead of killing or stalling it.
import { describe, expect, test } from "vitest";
// @ts-expect-error the harness is plain JavaScript
import { ensureBaseFiles } from "./base-files.mjs";
// @ts-expect-error the harness is plain JavaScript
import { runCases } from "./pool.mjs";

interface Regression {
  what: string;
  cls: string;
  fuzzCase: Record<string, unknown>;
  /** The typed error code it must end in now ("ok" for success). */
  expected: string;
}

const regressions: Regression[] = [
  {
    what: "a chat template looping over range(10**9) stalled the JS thread (hang)",
    cls: "gguf",
    fuzzCase: { mutator: "chatTemplate", base: "model", templateText: "{% for i in range(1000000000) %}x{% endfor %}" },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "nested loops of allowed ranges: 10^8 steps (hang)",
    cls: "gguf",
    fuzzCase: { mutator: "chatTemplate", base: "model", templateText: "{% for i in range(10000) %}{% for j in range(10000) %}{{ '' }}{% endfor %}{% endfor %}" },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "an mlp projector relabelled qwen2vl_merger aborted the process at its first image (GGML_ASSERT class_embedding == nullptr)",
    cls: "gguf",
    fuzzCase: { mutator: "absurdMetadata", base: "projector", set: [["clip.projector_type", { type: 8, value: "qwen2vl_merger" }]] },
    expected: "INVALID_PROJECTOR",
  },
  {
    what: "an mlp projector relabelled qwen3vl_merger aborted the process (GGML_ASSERT patch_bias != nullptr)",
    cls: "gguf",
    fuzzCase: { mutator: "absurdMetadata", base: "projector", set: [["clip.projector_type", { type: 8, value: "qwen3vl_merger" }]] },
    expected: "INVALID_PROJECTOR",
  },
  ...(
    [
      ["llama.block_count", { type: 4, value: 0 }],
      ["llama.block_count", { type: 4, value: 100000 }],
      ["llama.attention.layer_norm_rms_epsilon", { type: 6, value: -1 }],
    ] as const
  ).map(([key, value]) => ({
    what: `a model with ${key} = ${value.value} aborted the process (GGML_ASSERT in llama.cpp)`,
    cls: "gguf",
    fuzzCase: { mutator: "absurdMetadata", base: "model", set: [[key, value]] },
    expected: "MODEL_LOAD_FAILED",
  })),
  {
    what: "two bit flips in the vocabulary made a token twice: GGML_ASSERT(id_to_token.size() == token_to_id.size())",
    cls: "gguf",
    fuzzCase: { mutator: "bitflip", base: "model", bits: [3594659, 3929592] },
    expected: "MODEL_LOAD_FAILED",
  },
  ...(
    [
      ["clip.vision.image_size", { type: 4, value: 0 }],
      ["clip.vision.image_size", { type: 4, value: 1 }],
      ["clip.vision.image_size", { type: 4, value: 65535 }],
      ["clip.vision.patch_size", { type: 4, value: 112 }],
      ["clip.vision.embedding_length", { type: 4, value: 33 }],
      ["clip.vision.attention.layer_norm_epsilon", { type: 6, value: Number.NaN }],
      ["clip.vision.image_size", { type: 8, value: "56" }],
    ] as const
  ).map(([key, value]) => ({
    what: `a projector with ${key} = ${JSON.stringify(value.value)} aborted the process at its first image`,
    cls: "gguf",
    fuzzCase: { mutator: "absurdMetadata", base: "projector", set: [[key, value]] },
    expected: "INVALID_PROJECTOR",
  })),
  {
    what: "evaluate({ logprobs: { topK: 10n } }) never settled (hang)",
    cls: "options",
    fuzzCase: { target: "evaluate", options: { logprobs: { topK: { value: 10n }, probes: [] } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "generate({ topLogprobs: 10n }) was a TypeError",
    cls: "options",
    fuzzCase: { target: "generate", options: { topLogprobs: { value: 10n } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: 'a grammar repeating {2,1} times (minimum over maximum) never came back from llama.cpp\'s parser (hang)',
    cls: "options",
    fuzzCase: { target: "sampling", options: { grammar: { value: 'root ::= "a"{2,1}' } } },
    expected: "INVALID_GRAMMAR",
  },
  {
    what: "a grammar with {2,1} inside a literal is fine",
    cls: "options",
    fuzzCase: { target: "sampling", options: { grammar: { value: 'root ::= "a{2,1}" [{]' } } },
    expected: "ok",
  },
  {
    what: "generate({ stop: 'x' }) (a string, not an array) was a TypeError from the stop detector",
    cls: "options",
    fuzzCase: { target: "generate", options: { stop: "x" } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "loadModel({ path: 0.5 }) was a TypeError from node:path",
    cls: "options",
    fuzzCase: { target: "loadModel", options: { path: { value: 0.5 } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "reason({ strategy: 'toString' }) passed the strategy check (`in` sees Object.prototype) and failed with a TypeError",
    cls: "options",
    fuzzCase: { target: "reason", options: { strategy: { value: "toString" } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "reason({ judge: 'bogus' }) ran a search with an unknown judge mode instead of refusing it",
    cls: "options",
    fuzzCase: { target: "reason", options: { judge: { value: "bogus" } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "reason({ maxStageTokens: NaN }) was accepted",
    cls: "options",
    fuzzCase: { target: "reason", options: { maxStageTokens: { value: Number.NaN } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "`</s>` in reason()'s question became the end-of-sequence token in its prompt (text #111, SPECIAL_TOKEN_PARSED)",
    cls: "text",
    fuzzCase: { operation: "chatTemplate", text: "word </s>word ", repeat: 1, tokens: [] },
    expected: "ok",
  },
  {
    what: "`<s>` beside the media marker and `<|eot_id|>` in reason()'s question became the start-of-sequence token (text #228)",
    cls: "text",
    fuzzCase: { operation: "chatTemplate", text: "<__media__><s> <|eot_id|>[INST]\u0000", repeat: 1, tokens: [] },
    expected: "ok",
  },
  {
    what: "a question of special-token text through reason() itself",
    cls: "text",
    fuzzCase: { operation: "reason", text: "</s><s><__media__></s>", repeat: 1, tokens: [] },
    expected: "ok",
  },
  {
    what: "an 800 kB question full of `<s>` took 80 s to tokenize with special tokens parsed (text #1826, a hang), then overflowed the stack joining its plain-text tokens",
    cls: "text",
    fuzzCase: { operation: "reason", text: " <s>word", repeat: 100000, tokens: [] },
    expected: "CONTEXT_FULL",
  },
  ...(
    [
      [214, [7004, 13973, 6091], "v.patch_embd.weight, v.position_embd.weight and v.blk.0.ffn_up.bias"],
      [228, [6988, 15626], "v.position_embd.weight and mm.0.bias"],
      [739, [15625], "mm.0.bias"],
    ] as const
  ).map(([index, bits, names]) => ({
    what: `flipped bits renamed ${names} in an mlp projector: libmtmd's graph used the missing tensor (SIGSEGV, gguf #${index})`,
    cls: "gguf",
    fuzzCase: { mutator: "bitflip", base: "projector", bits: [...bits] },
    expected: "INVALID_PROJECTOR",
  })),
  ...(
    [
      ["zero", "a zero dim reached GGML_ASSERT(ggml_can_repeat) at the first image (gguf #375)"],
      ["overflow", "dims of 2^40 failed their allocation by GGML_ASSERT(buffer) (gguf #1066, #1072)"],
    ] as const
  ).map(([shape, what]) => ({
    what: `a projector's mm.2.bias with ${what}`,
    cls: "gguf",
    fuzzCase: { mutator: "tensorShape", base: "projector", tensor: 24, shape },
    expected: "INVALID_PROJECTOR",
  })),
  {
    what: "a projector key's value type overwritten to uint8: libmtmd's typed getter aborted the process (seed 4 gguf #375, GGML_ASSERT(type_to_gguf_type<T>::value == type))",
    cls: "gguf",
    fuzzCase: { mutator: "overwrite", base: "projector", kind: "valueType", instance: 5, value: "0" },
    expected: "INVALID_PROJECTOR",
  },
  {
    what: "a Symbol as reason()'s width threw a TypeError from the error message's template string (options #717 of seed 3)",
    cls: "options",
    fuzzCase: { target: "reason", options: { width: { pick: "type", i: 8 } } },
    expected: "INVALID_ARGUMENT",
  },
  {
    what: "a context of 1 for width 10,000 aborted the process: more sequences than a batch holds (cli #569, GGML_ASSERT n_outputs_max)",
    cls: "cli",
    fuzzCase: { command: "run", args: [{ flag: "-m", model: { kind: "good" } }, { question: "q".repeat(3000) }, { flag: "--context-size", value: "1" }, { flag: "--width", value: "10000" }], fast: false },
    expected: "CONTEXT_FULL",
  },
  {
    what: "400 kB of emoji took 69 s to tokenize (seed 7 text #49, a hang): llama.cpp's SPM tokenizer copies its whole output for every character it spells in bytes",
    cls: "text",
    fuzzCase: { operation: "evaluateMarked", text: "😀", repeat: 100000, tokens: [] },
    expected: "CONTEXT_FULL",
  },
  {
    what: "the same through tokenize() at the fuzz's 1 MB cap: emoji and CJK characters, without a space to cut at",
    cls: "text",
    fuzzCase: { operation: "tokenize", text: "😀漢字", repeat: 300000, tokens: [] },
    expected: "ok",
  },
];

describe("fuzz regressions", () => {
  test("each ends in its typed error, in a worker process, within the time limit", { timeout: 120_000 }, async () => {
    ensureBaseFiles();
    const results = await runCases(
      regressions.map((r, index) => ({ cls: r.cls, seed: 0, index, fuzzCase: r.fuzzCase })),
      { workers: 2, timeoutMs: 20_000 },
    );
    const got = results.map((r: { outcome: { status: string; code?: string } }, i: number) => ({
      what: regressions[i]!.what,
      outcome: r.outcome.status === "ok" ? "ok" : r.outcome.status === "typed" ? r.outcome.code : `${r.outcome.status} ${r.outcome.code}`,
    }));
    expect(got).toEqual(regressions.map((r) => ({ what: r.what, outcome: r.expected })));
  });
});
