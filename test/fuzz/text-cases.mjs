// Fuzz class "text": strings and token lists from untrusted users — invalid UTF-8 (decoded as Node
// would), lone surrogates, NULs, control and special-token text (`<|eot_id|>`, `<|image|>`,
// `</CONCLUSION>`, the media marker, the model's own `<s>`/`</s>`), long questions up to 1 MB, empty
// prompts, token ids out of range — through tokenize, detokenize, evaluate, generate (as stop strings),
// the chat template and reason(). Special-token text must stay plain text unless the caller asks
// otherwise: a case checks that no control token appears where parseSpecial is off.

import { resolveOptions } from "../../dist/reasoning/options.js";
import { SearchRun } from "../../dist/reasoning/search.js";

const SPECIAL = ["<|eot_id|>", "<|image|>", "</CONCLUSION>", "<CONCLUSION>", "<__media__>", "<s>", "</s>", "<unk>", "<|im_start|>", "[INST]", "<|start_header_id|>", "{{ messages }}", "{% raw %}"];

const PIECES = [
  (r) => r.pick(SPECIAL),
  () => "\u0000",
  () => "\ud800",
  () => "\udc00x",
  () => "\ud83d",
  () => "😀",
  () => "\ufffd",
  () => "\u202e",
  () => "\r\n\t",
  (r) => Buffer.from(r.bytes(r.int(1, 8))).toString("utf8"),
  (r) => Buffer.from(r.bytes(r.int(1, 8))).toString("latin1"),
  (r) => String.fromCharCode(...Array.from({ length: r.int(1, 6) }, () => r.int(0, 0xffff))),
  () => "word ",
  () => " ",
  () => "",
  () => "%s%n{0}${x}",
];

function text(r, maxPieces) {
  let s = "";
  const n = r.int(0, maxPieces);
  for (let i = 0; i < n; i++) s += r.pick(PIECES)(r);
  return s;
}

const OPERATIONS = ["tokenize", "tokenizeSpecial", "detokenize", "evaluateText", "evaluateTokens", "stop", "chatTemplate", "reason", "evaluateMarked"];

export function makeCase(r) {
  const operation = r.pick(OPERATIONS);
  const long = r.chance(0.03);
  return {
    operation,
    // A long text repeats a short one (up to 1 MB) so the case stays cheap to describe.
    text: text(r, 12),
    repeat: long ? r.pick([1000, 20000, 100000]) : 1,
    tokens: Array.from({ length: r.int(0, 6) }, () => r.pick([0, 1, 2, 3, 100, 31999, 32000, 32001, -1, 2 ** 31, -(2 ** 31), 1.5, Number.NaN, Infinity, 1e300])),
  };
}

export async function runCase(c, resources) {
  const { model, context } = await resources.shared();
  const input = c.text.repeat(c.repeat).slice(0, 1 << 20);
  const control = new Set([model.metadata.specialTokens.bos, model.metadata.specialTokens.eos].filter((t) => t !== null));
  const plain = (tokens, where) => {
    const found = tokens.slice(1).find((t) => control.has(t));
    return found === undefined ? undefined : { status: "violation", code: "SPECIAL_TOKEN_PARSED", message: `${where}: user text became control token ${found}` };
  };
  switch (c.operation) {
    case "tokenize":
      return plain(model.tokenize(input), "tokenize");
    case "tokenizeSpecial":
      model.tokenize(input, { parseSpecial: true, addSpecial: false });
      return;
    case "detokenize":
      model.detokenize(c.tokens);
      return;
    case "evaluateText":
    case "evaluateTokens":
    case "evaluateMarked":
    case "stop": {
      const sequence = context.createSequence();
      try {
        if (c.operation === "evaluateTokens") await sequence.evaluate(c.tokens);
        else if (c.operation === "evaluateMarked") await sequence.evaluate({ prompt: input, images: [] });
        else await sequence.evaluate(input, { parseSpecial: false });
        if (c.operation === "evaluateText") {
          const violation = plain(sequence.tokens, "evaluate");
          if (violation) return violation;
        }
        if (c.operation === "stop") await context.generate([sequence], { maxTokens: 3, stop: [input, c.text] }).result();
      } finally {
        await sequence.dispose();
      }
      return;
    }
    case "chatTemplate": {
      // The question prompt exactly as reason() builds it (its default questionSpecialTokens: "text").
      const run = new SearchRun(context, resolveOptions({ question: input }));
      const sequence = await context.createSequenceFrom(run.questionInput());
      try {
        return plain(sequence.tokens, "a rendered chat prompt");
      } finally {
        await sequence.dispose();
      }
    }
    case "reason":
      await model.reason({ context, question: input, strategy: "single", maxStageTokens: 2, maxJudgeTokens: 2, seed: 1 });
      return;
  }
}
