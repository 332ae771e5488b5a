// `stagebeam ls`: the GGUF models already on this machine — the Hugging Face cache, LM Studio's and Ollama's
// stores — described from their headers. A table on stdout (--json: every field, paths included); problems
// and where it looked on stderr.
import type { Command } from "commander";
import { hfCacheDir } from "../hub/hf-cache.js";
import { listLocalModels, type LocalModel } from "../hub/local-models.js";
import { lmStudioDir } from "../hub/lmstudio-store.js";
import { ollamaDir } from "../hub/ollama-store.js";

function size(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  return `${Math.ceil(bytes / 1024)} KiB`;
}

function table(models: LocalModel[]): string {
  const rows = [
    ["NAME", "ARCHITECTURE", "QUANT", "SIZE", "PROJECTOR", "SOURCE"],
    ...models.map((m) => [m.name, m.error ? "unreadable" : (m.architecture ?? "-"), m.quantization ?? "-", size(m.sizeBytes), m.projector ? "yes" : "-", m.source]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  ")).join("\n") + "\n";
}

export function registerLs(program: Command): void {
  program
    .command("ls")
    .description("list the GGUF models on this machine: the Hugging Face cache, LM Studio's and Ollama's stores")
    .option("--json", "print as JSON, with paths")
    .addHelpText(
      "after",
      `
Where it looks (each read-only but the first, which stagebeam downloads into):
  the Hugging Face cache   HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub
  LM Studio                STAGEBEAM_LMSTUDIO_DIR, else ~/.lmstudio/models, else ~/.cache/lm-studio/models
  Ollama                   STAGEBEAM_OLLAMA_DIR, else OLLAMA_MODELS, else ~/.ollama/models

Examples:
  $ stagebeam ls
  $ stagebeam ls --json | jq -r '.[] | select(.projector) | .path'`,
    )
    .action((o: { json?: boolean }) => {
      const models = listLocalModels();
      if (o.json) {
        process.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
        return;
      }
      if (models.length === 0) {
        process.stderr.write(`no GGUF models in ${hfCacheDir()}, ${lmStudioDir() ?? "LM Studio's folder (none here)"} or ${ollamaDir()}\n`);
        return;
      }
      process.stdout.write(table(models));
      for (const m of models) if (m.error) process.stderr.write(`note: ${m.name}: ${m.error}\n`);
    });
}
