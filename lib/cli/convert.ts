// `stagebeam convert`: a Hugging Face mllama checkpoint (Llama 3.2 Vision, LLaVA-CoT) → a text model GGUF
// and its vision projector GGUF. The two paths written go to stdout; progress to stderr on a TTY only.
import { basename, dirname, join, resolve } from "node:path";
import type { Command } from "commander";
import { convertModel, type MllamaWeightType } from "../mllama/convert.js";
import { terminal } from "./terminal.js";
import { oneOf, UsageError } from "./usage-error.js";

const types = ["f32", "f16", "q8_0"] as const;

/** Default output: <checkpoint folder name>-<TYPE>.gguf in the current folder. */
export function defaultModelPath(input: string, type: MllamaWeightType): string {
  return resolve(`${basename(resolve(input))}-${type.toUpperCase()}.gguf`);
}

/** Default projector path: mmproj-<model file name> beside the model. */
export function defaultProjectorPath(model: string): string {
  return join(dirname(resolve(model)), `mmproj-${basename(model)}`);
}

export function registerConvert(program: Command, signal: AbortSignal): void {
  program
    .command("convert")
    .description("convert a Hugging Face Llama 3.2 Vision (mllama) checkpoint into a model GGUF and a projector GGUF")
    .argument("<hf-dir>", "checkpoint folder: config.json, tokenizer.json, preprocessor_config.json, *.safetensors")
    .option("--out <path>", "model GGUF to write (default: <folder name>-<TYPE>.gguf here)")
    .option("--projector-out <path>", "projector GGUF to write (default: mmproj-<model file> beside the model)")
    .option("--type <type>", `storage of the 2-D weights: ${types.join(", ")}`, oneOf("--type", types), "f16")
    .option("--vision-type <type>", `storage of the projector's 2-D weights (default: --type, f16 for q8_0)`, oneOf("--vision-type", types))
    .option("-q, --quiet", "no progress bar")
    .addHelpText(
      "after",
      `
Examples:
  $ stagebeam convert ./Llama-3.2V-11B-cot --type q8_0
  $ stagebeam convert ./Llama-3.2V-11B-cot --out llava-cot-f16.gguf --projector-out mmproj-llava-cot-f16.gguf`,
    )
    .action(async (input: string, o: { out?: string; projectorOut?: string; type: MllamaWeightType; visionType?: MllamaWeightType; quiet?: boolean }) => {
      const output = resolve(o.out ?? defaultModelPath(input, o.type));
      const projectorOutput = resolve(o.projectorOut ?? defaultProjectorPath(output));
      if (output === projectorOutput) throw new UsageError(`--out and --projector-out are the same file (${output})`);
      const term = terminal(o.quiet);
      const result = await convertModel({
        input,
        output,
        projectorOutput,
        type: o.type,
        visionType: o.visionType,
        signal,
        onProgress: ({ bytesWritten, bytesTotal }) =>
          term.bar(`converting (${(bytesWritten / 2 ** 30).toFixed(1)} of ${(bytesTotal / 2 ** 30).toFixed(1)} GiB)`, bytesTotal > 0 ? bytesWritten / bytesTotal : 0),
      });
      term.clear();
      process.stdout.write(`${result.model}\n${result.projector}\n`);
    });
}
