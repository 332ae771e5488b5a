// `stagebeam info`: what a model is, and whether a projector fits it.
import type { Command } from "commander";
import { StagebeamError } from "../errors.js";
import { loadModel } from "../model.js";
import { resolveModelFiles } from "./resolve-model.js";
import { terminal } from "./terminal.js";

/** The chat template family, from markers real templates carry. */
export function templateName(template: string | null): string {
  if (!template) return "none";
  const families: [string, RegExp][] = [
    ["chatml", /<\|im_start\|>/],
    ["llama3", /<\|start_header_id\|>/],
    ["llama2", /\[INST\]/],
    ["gemma", /<start_of_turn>/],
    ["mistral-v7", /\[SYSTEM_PROMPT\]/],
    ["phi3", /<\|user\|>/],
    ["deepseek", /<｜User｜>/],
  ];
  return families.find(([, marker]) => marker.test(template))?.[0] ?? "custom";
}

export function registerInfo(program: Command, signal: AbortSignal): void {
  program
    .command("info")
    .description("describe a model (and whether a projector fits it)")
    .argument("<model>", "model GGUF: a path, hf:OWNER/REPO/FILE.gguf, hf:OWNER/REPO:QUANT or hf:OWNER/REPO")
    .option("--projector <path|hf:ref>", "a multimodal projector to check against the model (default with hf:OWNER/REPO[:QUANT]: the repository's)")
    .option("--json", "print as JSON")
    .action(async (modelArg: string, o: { projector?: string; json?: boolean }) => {
      const term = terminal(o.json);
      const say = (line: string) => process.stderr.write(`${line}\n`);
      const files = await resolveModelFiles(modelArg, o.projector, term, { wantProjector: true, say, signal });
      const model = await loadModel({ path: files.model, gpuLayers: 0, signal, onProgress: (p) => term.bar("loading", p) });
      term.clear();
      try {
        const m = model.metadata;
        const info: Record<string, unknown> = {
          file: model.path,
          name: m.name || null,
          architecture: m.architecture,
          engine: model.engine,
          description: m.description,
          parameters: m.parameterCount,
          sizeBytes: m.sizeBytes,
          contextLength: m.contextLength,
          layers: m.layerCount,
          embeddingSize: m.embeddingSize,
          vocabularySize: m.vocabSize,
          chatTemplate: templateName(m.chatTemplate),
        };
        if (files.projector) {
          try {
            const projector = await model.loadProjector(files.projector, { signal });
            info.projector = { file: projector.path, fits: true, ...projector.info, imageTokens: await projector.imageTokens(448, 448).catch(() => null) };
          } catch (error) {
            if (!(error instanceof StagebeamError) || !["PROJECTOR_MISMATCH", "INVALID_PROJECTOR", "PROJECTOR_LOAD_FAILED"].includes(error.code)) throw error;
            info.projector = { file: files.projector, fits: false, reason: error.message };
          }
        }
        if (o.json) {
          process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
          return;
        }
        const rows: [string, unknown][] = [
          ["file", info.file],
          ["name", info.name ?? "-"],
          ["architecture", info.architecture],
          ["engine", model.engine === "mllama" ? "mllama (stagebeam's own, on ggml)" : "llama.cpp"],
          ["parameters", `${(m.parameterCount / 1e6).toFixed(1)} M`],
          ["size", `${(m.sizeBytes / 2 ** 20).toFixed(1)} MiB`],
          ["context length", info.contextLength],
          ["layers / embedding", `${m.layerCount} / ${m.embeddingSize}`],
          ["vocabulary", m.vocabSize],
          ["chat template", info.chatTemplate],
        ];
        if (files.projector) {
          const p = info.projector as { fits: boolean; reason?: string; vision?: boolean; audio?: boolean; mrope?: boolean };
          rows.push(["projector", p.fits ? `fits (vision: ${p.vision ? "yes" : "no"}, audio: ${p.audio ? "yes" : "no"}, M-RoPE: ${p.mrope ? "yes" : "no"})` : `does not fit: ${p.reason}`]);
        } else {
          rows.push(["vision", "needs a projector (--projector mmproj.gguf)"]);
        }
        for (const [key, value] of rows) process.stdout.write(`${key.padEnd(20)} ${value}\n`);
      } finally {
        await model.dispose();
      }
    });
}
