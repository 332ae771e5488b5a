// Fuzz class "options": every numeric option of the public API at NaN, ±Infinity, negative, 0,
// fractional, huge; options of the wrong type; unknown strategy, judge and other names; grammars that do
// not parse or can never finish. Each case sets one to three options of one call to such values.

const NUMBERS = [Number.NaN, Infinity, -Infinity, -1, 0, 0.5, 1.5, 1, 2, 3, 10000, 2 ** 31, 2 ** 32, 2 ** 53, 1e308, -0];
const WRONG_TYPES = ["3", "", null, true, {}, [], [1], () => 1, Symbol("x"), 10n, "NaN"];
const NAMES = ["", "bogus", "STAGE-BEAM", "stage_beam", "single ", "constructor", "__proto__", "toString"];
const GRAMMARS = [
  'root ::= "unterminated',
  "start ::= \"a\"",
  "root ::= root \"a\"",
  'root ::= "a" root',
  "root ::= [",
  "root ::= x\nx ::= y\ny ::= x",
  'root ::= "a"{1000000}',
  'root ::= "a"{2,1}',
  "",
  "root ::=",
  'root ::= [^\\x00-\\U0010FFFF]',
  'root ::= "\\u{110000}"',
  'root ::= ("a" | "b")* "\\x00"',
  'root ::= "x" | ',
];

function value(r, kind) {
  const from = r.pick(kind === "name" ? ["name", "name", "number", "type"] : kind === "grammar" ? ["grammar", "grammar", "type"] : kind === "bool" ? ["type", "number"] : ["number", "number", "number", "type"]);
  if (from === "name") return { pick: "name", i: r.int(0, NAMES.length - 1) };
  if (from === "grammar") return { pick: "grammar", i: r.int(0, GRAMMARS.length - 1) };
  if (from === "type") return { pick: "type", i: r.int(0, WRONG_TYPES.length - 1) };
  return { pick: "number", i: r.int(0, NUMBERS.length - 1) };
}

function resolve(v) {
  if ("value" in v) return v.value; // a regression case names its value
  return { name: NAMES, grammar: GRAMMARS, type: WRONG_TYPES, number: NUMBERS }[v.pick][v.i];
}

// Each call's options and what kind of value each takes.
const TARGETS = {
  createContext: { contextSize: "n", sequences: "n", batchSize: "n", ubatchSize: "n", threads: "n", threadsBatch: "n", flashAttention: "name", kvType: "name", images: "n", prefixCache: "obj", shareBatches: "bool" },
  sampling: { temperature: "n", topK: "n", topP: "n", minP: "n", repeatPenalty: "n", frequencyPenalty: "n", presencePenalty: "n", penaltyLastN: "n", seed: "n", logitBias: "bias", grammar: "grammar", grammarRoot: "name" },
  generate: { maxTokens: "n", stop: "stop", ignoreEog: "bool", topLogprobs: "n", sampling: "obj" },
  reason: { strategy: "name", width: "n", seed: "n", temperature: "n", topP: "n", maxStageTokens: "n", maxJudgeTokens: "n", forceStructure: "name", judge: "name", fork: "bool", tournament: "name", scorer: "name", template: "name", retrace: "retrace", question: "question" },
  loadModel: { gpuLayers: "n", useMmap: "bool", path: "path", onProgress: "fn" },
  loadProjector: { threads: "n", useGpu: "bool", flashAttention: "name" },
  evaluate: { logprobs: "logprobs", parseSpecial: "bool" },
  tokenize: { addSpecial: "bool", parseSpecial: "bool" },
};

export function makeCase(r) {
  const target = r.pick(Object.keys(TARGETS));
  const names = Object.keys(TARGETS[target]);
  const options = {};
  for (let k = r.int(1, 3); k > 0; k--) {
    const name = r.pick(names);
    const kind = TARGETS[target][name];
    if (kind === "bias") options[name] = { bias: [r.pick([0, 5, -1, 32000, 1e10, Number.NaN]), r.pick([Number.NaN, -Infinity, Infinity, 1e30, 0])], shape: r.pick(["pairs", "flat", "type"]) };
    else if (kind === "stop") options[name] = r.pick([["", "x"], [""], [], "x", [1], ["a".repeat(10000)], null]);
    else if (kind === "retrace") options[name] = { [r.pick(["captions", "keepCaptions", "reasoningsPerCaption", "threshold", "maxRetraces", "finalists"])]: value(r, "n") };
    else if (kind === "logprobs") options[name] = { topK: value(r, "n"), probes: r.pick([[], [0, 32000], [-1], [1.5], "x"]) };
    else options[name] = value(r, kind === "n" ? "number" : kind);
  }
  return { target, options };
}

function materialize(target, options) {
  const out = {};
  for (const [name, v] of Object.entries(options)) {
    const kind = TARGETS[target][name];
    if (kind === "bias") out[name] = v.shape === "pairs" ? [v.bias] : v.shape === "flat" ? v.bias : "bias";
    else if (kind === "stop") out[name] = v;
    else if (kind === "retrace") out[name] = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
    else if (kind === "logprobs") out[name] = { topK: resolve(v.topK), probes: v.probes };
    else if (kind === "obj") out[name] = v.pick === "number" ? { sequences: resolve(v) } : resolve(v);
    else if (kind === "path") out[name] = resolve(v);
    else if (kind === "fn") out[name] = v.pick === "number" ? resolve(v) : () => { throw new Error("a progress callback that throws"); };
    else out[name] = resolve(v);
  }
  return out;
}

export async function runCase(c, resources) {
  const { model, context } = await resources.shared();
  const o = materialize(c.target, c.options);
  const { baseFiles } = await import("./base-files.mjs");
  switch (c.target) {
    case "createContext": {
      const created = await model.createContext({ contextSize: 64, sequences: 1, threads: 1, ...o });
      await created.dispose();
      return;
    }
    case "sampling":
    case "generate": {
      const sequence = context.createSequence(c.target === "sampling" ? { sampling: o } : {});
      try {
        await sequence.evaluate("hello");
        await context.generate([sequence], { maxTokens: 4, ...(c.target === "generate" ? o : {}) }).result();
      } finally {
        await sequence.dispose();
      }
      return;
    }
    case "reason":
      await model.reason({ context, question: "why?", strategy: "single", maxStageTokens: 2, maxJudgeTokens: 2, ...o, retrace: { captions: 2, keepCaptions: 1, reasoningsPerCaption: 1, maxRetraces: 1, finalists: 1, ...o.retrace } });
      return;
    case "loadModel": {
      const loaded = await (await import("../../dist/index.js")).loadModel({ path: baseFiles.model, gpuLayers: 0, ...o });
      await loaded.dispose();
      return;
    }
    case "loadProjector": {
      const host = await resources.projectorHost();
      await host.loadProjector(baseFiles.projector, { threads: 1, ...o });
      return;
    }
    case "evaluate": {
      const sequence = context.createSequence();
      try {
        await sequence.evaluate("a question", o);
      } finally {
        await sequence.dispose();
      }
      return;
    }
    case "tokenize":
      model.tokenize("<s> hi </s>", o);
      return;
  }
}
