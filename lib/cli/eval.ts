// `stagebeam eval`: accuracy and cost of search strategies on a benchmark file (VLMEvalKit TSV or JSONL),
// with a model loaded here or through a running `stagebeam serve` (--url). Results per strategy in --out;
// the comparison table on stdout. Ctrl-C keeps every finished row: --resume continues.
import { basename, extname, join } from "node:path";
import { InvalidArgumentError, type Command } from "commander";
import { createError } from "../errors.js";
import { localSolver } from "../eval/local-solver.js";
import { readItems } from "../eval/read-items.js";
import { remoteSolver } from "../eval/remote-solver.js";
import { runEval } from "../eval/runner.js";
import type { Solver } from "../eval/solver.js";
import { parseStrategySpecs, type StrategySpec } from "../eval/strategy-spec.js";
import { markdownSummary } from "../eval/summary.js";
import { loadModel, type Model } from "../model.js";
import type { ForceStructure, JudgeMode } from "../reasoning/options.js";
import { chatTemplateArgument } from "./chat-template-option.js";
import { createCommandContext } from "./command-context.js";
import { evalProgress } from "./eval-progress.js";
import { resolveModelFiles } from "./resolve-model.js";
import { terminal } from "./terminal.js";
import { nonNegativeInteger, numberIn, oneOf, positiveInteger, UsageError } from "./usage-error.js";

const DEFAULT_STRATEGIES = "single,stage-beam:2,stage-beam:4,best-of-n:4";

interface EvalCliOptions {
  model?: string;
  projector?: string;
  data: string;
  strategies: StrategySpec[];
  judge: JudgeMode;
  limit?: number;
  resume?: boolean;
  out?: string;
  seed: number;
  url?: string;
  apiKey?: string;
  tolerance: number;
  temperature?: number;
  topP?: number;
  maxStageTokens?: number;
  forceStructure?: ForceStructure;
  gpuLayers?: number;
  threads?: number;
  contextSize?: number;
  chatTemplate?: string;
  quiet?: boolean;
}

function strategiesArgument(value: string): StrategySpec[] {
  try {
    return parseStrategySpecs(value);
  } catch (error) {
    throw new InvalidArgumentError(`--strategies: ${(error as Error).message}`);
  }
}

export function registerEval(program: Command, signal: AbortSignal): void {
  program
    .command("eval")
    .description("measure accuracy and cost of search strategies on a benchmark file")
    .requiredOption("--data <file>", "benchmark: a VLMEvalKit .tsv (index, image, question, hint, A…, answer, category) or a .jsonl of {id, image, question, choices?, answer}")
    .option("-m, --model <path|hf:ref>", "text model GGUF: a path or hf: reference (not with --url)")
    .option("--projector <path|hf:ref>", "the model's multimodal projector (mmproj GGUF)")
    .option("--url <url>", "evaluate a running `stagebeam serve` at this address instead of loading a model")
    .option("--api-key <key>", "the server's API key (with --url)")
    .option("--strategies <list>", `strategies to compare, NAME or NAME:WIDTH (default ${DEFAULT_STRATEGIES})`, strategiesArgument, parseStrategySpecs(DEFAULT_STRATEGIES))
    .option("--judge <mode>", "judge of the searches: generate or logprob", oneOf("--judge", ["generate", "logprob"] as const), "generate")
    .option("--limit <n>", "only the first N rows", positiveInteger("--limit"))
    .option("--resume", "continue the run in --out: rows already there are skipped")
    .option("--out <dir>", "folder of the results (default eval-<data file name>)")
    .option("--seed <n>", "random seed of every search", nonNegativeInteger("--seed"), 0)
    .option("--tolerance <r>", "relative tolerance of numeric answers", numberIn("--tolerance", 0, 1), 0.01)
    .option("--temperature <t>", "sampling temperature (default 0.6)", numberIn("--temperature", 0, 2))
    .option("--top-p <p>", "nucleus sampling (default 0.9)", numberIn("--top-p", 0, 1))
    .option("--max-stage-tokens <n>", "token budget of one stage (default 512)", positiveInteger("--max-stage-tokens"))
    .option("--force-structure <mode>", "prefill, grammar or off (default off)", oneOf("--force-structure", ["prefill", "grammar", "off"] as const))
    .option("--gpu-layers <n>", "layers to offload to the GPU (default: all)", nonNegativeInteger("--gpu-layers"))
    .option("--threads <n>", "CPU threads", positiveInteger("--threads"))
    .option("--context-size <n>", "KV cache size in tokens", positiveInteger("--context-size"))
    .option("--chat-template <name|file>", "chat template, for a model whose file has none", chatTemplateArgument)
    .option("-q, --quiet", "no progress")
    .addHelpText(
      "after",
      `
Writes to --out, per strategy: KEY.jsonl (every row: stages, counts, timings), KEY.tsv (VLMEvalKit-style,
prediction = the conclusion), KEY.summary.json and .md; over all results in the folder: summary.json,
summary.md and accuracy-vs-time.svg. KEY is e.g. single, stage-beam-4-logprob.

Examples:
  $ stagebeam eval -m model.gguf --projector mmproj.gguf --data MMStar.tsv --limit 200
  $ stagebeam eval -m model.gguf --projector mmproj.gguf --data items.jsonl --strategies single,stage-beam:4 --judge logprob --out results
  $ stagebeam eval --url http://127.0.0.1:8080 --data MMStar.tsv --strategies single,stage-beam:2`,
    )
    .action(async (o: EvalCliOptions) => {
      if (o.url && (o.model || o.projector)) throw new UsageError("give either --url (a running server) or -m/--projector (a model to load), not both");
      if (!o.url && !o.model) throw new UsageError("give -m MODEL (with --projector for images), or --url of a running stagebeam serve");
      if (o.url && !/^https?:\/\//.test(o.url)) throw new UsageError(`--url must start with http:// or https://, got "${o.url}"`);
      const term = terminal(o.quiet);
      const say = o.quiet ? () => {} : (line: string) => term.note(line);
      const read = readItems(o.data);
      for (const p of read.problems) say(`${basename(o.data)} line ${p.line}${p.id ? ` (id ${p.id})` : ""}: ${p.message} — skipped`);
      const items = o.limit ? read.items.slice(0, o.limit) : read.items;
      if (items.length === 0) throw createError("INVALID_DATA", `${o.data} has no usable rows${read.problems.length ? " (see the problems above)" : ""}`);
      const outDir = o.out ?? `eval-${basename(o.data, extname(o.data))}`;
      const settings = { judge: o.judge, forceStructure: o.forceStructure, maxStageTokens: o.maxStageTokens, temperature: o.temperature, topP: o.topP };
      let model: Model | undefined;
      let solver: Solver;
      if (o.url) {
        solver = remoteSolver({ url: o.url, apiKey: o.apiKey, ...settings });
      } else {
        const wantProjector = items.some((i) => i.image !== undefined);
        const files = await resolveModelFiles(o.model!, o.projector, term, { wantProjector, say, signal });
        if (wantProjector && !files.projector) throw createError("NO_PROJECTOR", `${o.data} has images: give the model's projector (mmproj GGUF) with --projector`);
        model = await loadModel({ path: files.model, projector: files.projector, gpuLayers: o.gpuLayers, signal, onProgress: (p) => term.bar("loading model", p) });
        term.clear();
        // The solver empties the prefix cache before each row, so no row is cheaper for what an earlier
        // one left there.
        const context = await createCommandContext(model, { ...o, prefixSequences: 2 });
        solver = localSolver({ model, context, template: o.chatTemplate, ...settings });
      }
      try {
        const { summaries } = await runEval({
          items,
          specs: o.strategies,
          solver,
          judge: o.judge,
          seed: o.seed,
          data: o.data,
          outDir,
          resume: o.resume,
          url: o.url,
          tolerance: o.tolerance,
          signal,
          onProgress: o.quiet ? undefined : evalProgress(term, o.strategies.length, say),
        });
        term.clear();
        process.stdout.write(markdownSummary(summaries));
        say(`results in ${join(outDir, "")} (summary.md, accuracy-vs-time.svg, per strategy .jsonl/.tsv/.summary.json)`);
      } finally {
        term.clear();
        await model?.dispose();
      }
    });
}
