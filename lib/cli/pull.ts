// `stagebeam pull`: download a GGUF from the Hugging Face Hub into the cache (resumable).
import type { Command } from "commander";
import { resolveModelPath } from "./resolve-model.js";
import { terminal } from "./terminal.js";

export function registerPull(program: Command, signal: AbortSignal): void {
  program
    .command("pull")
    .description("download a model from the Hugging Face Hub into the cache (resumes a partial download)")
    .argument("<ref>", "hf:OWNER/REPO/FILE.gguf")
    .option("-q, --quiet", "no progress bar")
    .addHelpText("after", "\nExample:\n  $ stagebeam pull hf:ggml-org/Qwen2.5-VL-3B-Instruct-GGUF/Qwen2.5-VL-3B-Instruct-Q4_K_M.gguf")
    .action(async (ref: string, o: { quiet?: boolean }) => {
      const path = await resolveModelPath(ref, terminal(o.quiet), signal);
      process.stdout.write(`${path}\n`);
    });
}
