// `stagebeam run`: one staged-reasoning search; the answer on stdout.
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { loadModel } from "../model.js";
import type { ForceStructure, StrategyName } from "../reasoning/options.js";
import { createError } from "../errors.js";
import { STAGES } from "../reasoning/stages.js";
import { chatTemplateArgument } from "./chat-template-option.js";
import { createCommandContext } from "./command-context.js";
import { liveView } from "./live-view.js";
import { bringsProjector, resolveModelFiles } from "./resolve-model.js";
import { terminal } from "./terminal.js";
import { rpcEndpoints } from "./rpc-option.js";
import { nonNegativeInteger, numberIn, oneOf, positiveInteger, UsageError } from "./usage-error.js";

const strategies = ["single", "best-of-n", "sentence-beam", "stage-beam", "retrace"] as const;
const forcing = ["prefill", "grammar", "off"] as const;

interface RunOptions {
  model: string;
  projector?: string;
  image?: string;
  strategy: StrategyName;
  width?: number;
  temperature?: number;
  topP?: number;
  seed: number;
  maxStageTokens?: number;
  forceStructure: ForceStructure;
  judge: "generate" | "logprob";
  gpuLayers?: number;
  rpc?: string[];
  threads?: number;
  contextSize?: number;
  chatTemplate?: string;
  showReasoning?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerRun(program: Command, signal: AbortSignal): void {
  program
    .command("run")
    .description("answer a question about an image, reasoning in stages")
    .argument("[question]", "the question (read from stdin when absent)")
    .requiredOption("-m, --model <path|hf:ref>", "text model GGUF: a path, hf:OWNER/REPO/FILE.gguf, hf:OWNER/REPO:QUANT or hf:OWNER/REPO")
    .option("--projector <path|hf:ref>", "the model's multimodal projector (mmproj GGUF; default with hf:OWNER/REPO[:QUANT]: the repository's)")
    .option("--image <path>", "the image the question is about")
    .option("--strategy <name>", `search strategy: ${strategies.join(", ")}`, oneOf("--strategy", strategies), "stage-beam")
    .option("--width <n>", "candidates per step (default 2)", positiveInteger("--width"))
    .option("--temperature <t>", "sampling temperature (default 0.6)", numberIn("--temperature", 0, 10))
    .option("--top-p <p>", "nucleus sampling (default 0.9)", numberIn("--top-p", 0, 1))
    .option("--seed <n>", "random seed", nonNegativeInteger("--seed"), 0)
    .option("--max-stage-tokens <n>", "token budget of one stage (default 512)", positiveInteger("--max-stage-tokens"))
    .option("--force-structure <mode>", "make models not trained on the stages produce them: prefill, grammar or off", oneOf("--force-structure", forcing), "off")
    .option("--judge <mode>", "judge by generating an answer (generate) or by logprobs (logprob)", oneOf("--judge", ["generate", "logprob"] as const), "generate")
    .option("--gpu-layers <n>", "layers to offload to the GPU (default: all)", nonNegativeInteger("--gpu-layers"))
    .option("--rpc <host:port,…>", "split the model across these rpc-servers (stagebeam rpc-server on each machine)", rpcEndpoints)
    .option("--threads <n>", "CPU threads", positiveInteger("--threads"))
    .option("--context-size <n>", "KV cache size in tokens", positiveInteger("--context-size"))
    .option("--chat-template <name|file>", "chat template, for a model whose file has none (or to override it): a name llama.cpp knows (chatml, llama3, …) or a Jinja file", chatTemplateArgument)
    .option("--show-reasoning", "print every stage, labelled")
    .option("--json", "print the whole result as JSON: stages, search tree, counts, timings")
    .option("-q, --quiet", "no progress or live view")
    .addHelpText(
      "after",
      `
Examples:
  $ stagebeam run -m qwen2.5-vl-7b-q4_k_m.gguf --projector mmproj.gguf --image photo.jpg "How many apples?"
  $ echo "What is unusual here?" | stagebeam run -m model.gguf --projector mmproj.gguf --image photo.jpg
  $ stagebeam run -m hf:OWNER/REPO/model.gguf --projector hf:OWNER/REPO/mmproj.gguf --image x.png --json "…"
  $ stagebeam run -m hf:ggml-org/gemma-3-4b-it-GGUF:Q4_K_M --image photo.jpg "What is unusual here?"   # projector picked from the repo`,
    )
    .action(async (questionArg: string | undefined, o: RunOptions) => {
      const question = questionArg ?? readQuestionFromStdin();
      if (o.image && !o.projector && !bringsProjector(o.model)) throw new UsageError("--image needs --projector (the model's mmproj GGUF)");
      const term = terminal(o.quiet || o.json);
      const say = o.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const files = await resolveModelFiles(o.model, o.projector, term, { wantProjector: Boolean(o.image), say, signal });
      if (o.image && !files.projector) throw createError("NO_PROJECTOR", `${o.model} has no projector (mmproj GGUF) to read --image with: give one with --projector`);
      const model = await loadModel({
        path: files.model,
        projector: files.projector,
        gpuLayers: o.gpuLayers,
        rpc: o.rpc,
        signal,
        onProgress: (p) => term.bar("loading model", p),
      });
      term.clear();
      try {
        const context = await createCommandContext(model, { ...o, prefixSequences: 2 });
        const result = await model.reason({
          context,
          question,
          image: o.image,
          strategy: o.strategy,
          width: o.width,
          temperature: o.temperature,
          topP: o.topP,
          seed: o.seed,
          maxStageTokens: o.maxStageTokens,
          forceStructure: o.forceStructure,
          judge: o.judge,
          template: o.chatTemplate,
          signal,
          onEvent: liveView(term),
        });
        term.clear();
        if (o.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        } else if (o.showReasoning) {
          for (const stage of STAGES) process.stdout.write(`${stage}:\n${result.stages[stage]}\n\n`);
        } else {
          process.stdout.write(`${result.conclusion}\n`);
        }
        for (const problem of result.problems) term.note(term.dim(`note: ${problem}`));
      } finally {
        await model.dispose();
      }
    });
}

function readQuestionFromStdin(): string {
  if (process.stdin.isTTY) throw new UsageError('give a question: stagebeam run -m MODEL "question" (or pipe it on stdin)');
  const text = readFileSync(0, "utf8").trim();
  if (!text) throw new UsageError("the question read from stdin is empty");
  return text;
}
