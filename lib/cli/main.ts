#!/usr/bin/env node
// The stagebeam command line. Exit codes: 0 ok, 1 runtime error, 2 usage error, 130 interrupted.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, CommanderError } from "commander";
import { AbortError, StagebeamError } from "../errors.js";
import { registerConvert } from "./convert.js";
import { registerDemo } from "./demo.js";
import { registerEval } from "./eval.js";
import { registerInfo } from "./info.js";
import { registerLs } from "./ls.js";
import { registerPull } from "./pull.js";
import { registerRpcServer } from "./rpc-server.js";
import { registerRun } from "./run.js";
import { registerServe } from "./serve.js";
import { UsageError } from "./usage-error.js";

const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "..", "package.json"), "utf8")) as { version: string };

async function main(argv: string[]): Promise<number> {
  const controller = new AbortController();
  // Output piped into a reader that stops early (`stagebeam info … | head`): stop quietly, as Unix tools do.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(0);
  });
  // Ctrl-C aborts the running work cleanly (sequences freed, partial downloads kept); a second one exits.
  process.once("SIGINT", () => {
    controller.abort();
    process.once("SIGINT", () => process.exit(130));
  });

  const program = new Command("stagebeam")
    .description("Staged reasoning and stage-level beam search for local vision-language models")
    .version(pkg.version)
    .option("--verbose", "show stack traces of errors")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)")
    .addHelpText(
      "after",
      `
Examples:
  $ stagebeam demo                                       # a tiny random-weight model, no download
  $ stagebeam run -m model.gguf --projector mmproj.gguf --image photo.jpg "What is unusual here?"
  $ stagebeam run -m model.gguf --projector mmproj.gguf --image photo.jpg --strategy stage-beam --width 4 --json "…"
  $ stagebeam info model.gguf --projector mmproj.gguf
  $ stagebeam run -m hf:OWNER/REPO:Q4_K_M --image photo.jpg "…"   # the repo's Q4_K_M GGUF and its mmproj
  $ stagebeam pull hf:OWNER/REPO/FILE.gguf
  $ stagebeam serve -m model.gguf --projector mmproj.gguf --port 8080   # OpenAI-compatible API
  $ stagebeam ls                                                # models already here (Hugging Face, LM Studio, Ollama)
  $ stagebeam convert ./Llama-3.2V-11B-cot --type q8_0          # Hugging Face mllama → model + projector GGUF
  $ stagebeam eval -m model.gguf --projector mmproj.gguf --data MMStar.tsv --strategies single,stage-beam:4
  $ stagebeam rpc-server --port 50052                           # lend this machine's devices to another's --rpc`,
    );
  registerRun(program, controller.signal);
  registerServe(program, controller.signal);
  registerInfo(program, controller.signal);
  registerPull(program, controller.signal);
  registerLs(program);
  registerDemo(program, controller.signal);
  registerConvert(program, controller.signal);
  registerEval(program, controller.signal);
  registerRpcServer(program, controller.signal);
  for (const command of program.commands) command.exitOverride();

  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      return ["commander.helpDisplayed", "commander.version", "commander.help"].includes(error.code) ? 0 : 2;
    }
    const verbose = program.opts().verbose || argv.includes("--verbose");
    if (error instanceof UsageError) {
      process.stderr.write(`stagebeam: ${error.message}\n`);
      return 2;
    }
    if (error instanceof AbortError || controller.signal.aborted) {
      process.stderr.write("\nstagebeam: interrupted\n");
      return 130;
    }
    const message = error instanceof Error ? error.message : String(error);
    const code = error instanceof StagebeamError ? ` [${error.code}]` : "";
    process.stderr.write(`stagebeam: error${code}: ${message.split("\n")[0]}\n`);
    if (verbose && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
