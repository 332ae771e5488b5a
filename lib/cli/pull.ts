// `stagebeam pull`: download a GGUF from the Hugging Face Hub into the Hugging Face cache (resumable). A
// repository reference also brings its projector, so a later `run` needs no network. The paths go to stdout,
// the model's first.
import type { Command } from "commander";
import { resolveModelFiles } from "./resolve-model.js";
import { terminal } from "./terminal.js";

export function registerPull(program: Command, signal: AbortSignal): void {
  program
    .command("pull")
    .description("download a model (and, for hf:OWNER/REPO[:QUANT], its projector) from the Hugging Face Hub into the Hugging Face cache")
    .argument("<ref>", "hf:OWNER/REPO/FILE.gguf, hf:OWNER/REPO:QUANT or hf:OWNER/REPO")
    .option("-q, --quiet", "no progress bar")
    .addHelpText(
      "after",
      `
Examples:
  $ stagebeam pull hf:ggml-org/Qwen2.5-VL-3B-Instruct-GGUF:Q4_K_M       # the Q4_K_M model and its mmproj
  $ stagebeam pull hf:ggml-org/Qwen2.5-VL-3B-Instruct-GGUF/Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf`,
    )
    .action(async (ref: string, o: { quiet?: boolean }) => {
      const say = o.quiet ? undefined : (line: string) => process.stderr.write(`${line}\n`);
      const files = await resolveModelFiles(ref, undefined, terminal(o.quiet), { wantProjector: true, say, signal });
      process.stdout.write(`${files.model}\n${files.projector ? `${files.projector}\n` : ""}`);
    });
}
