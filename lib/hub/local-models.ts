// The GGUF models already on this machine (`stagebeam ls`): the Hugging Face cache, LM Studio's folder and
// Ollama's store, each read in place and never written. Every file is described from its header only, and a
// model is paired with a projector when its store has one for it: Ollama's manifest says so; in the Hugging
// Face cache and LM Studio's folders, a projector beside the model is picked as for hf:OWNER/REPO (the one
// of the model's precision, else F16, else the first).
import { realpathSync, statSync } from "node:fs";
import { chooseProjector } from "./gguf-choice.js";
import { summarizeGguf, type GgufSummary } from "./gguf-summary.js";
import { hfCacheGroups } from "./hf-cache-store.js";
import { lmStudioGroups } from "./lmstudio-store.js";
import { ollamaGroups } from "./ollama-store.js";

export type ModelSource = "huggingface" | "lmstudio" | "ollama";

/** GGUF files a store keeps together: a snapshot, a folder, a manifest. */
export interface StoreGroup {
  source: ModelSource;
  /** name: how to refer to it; file: its name within the group, to pair projectors by. */
  files: { name: string; path: string; file: string }[];
  /** The store's own pairing (Ollama), null for none; absent: pair by file names. */
  projector?: { name: string; path: string } | null;
}

export interface LocalModel {
  source: ModelSource;
  /** What to pass to `run -m` for the Hugging Face cache (an hf: reference); the store's name otherwise. */
  name: string;
  path: string;
  architecture: string | null;
  quantization: string | null;
  sizeBytes: number;
  /** The projector that pairs with it, or null. */
  projector: string | null;
  /** Why its header could not be read (a truncated or foreign file). */
  error?: string;
}

function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path; // missing (a manifest naming a deleted blob): listed with its error
  }
}

export function listLocalModels(groups: StoreGroup[] = [...hfCacheGroups(), ...lmStudioGroups(), ...ollamaGroups()]): LocalModel[] {
  const models: LocalModel[] = [];
  const seen = new Set<string>(); // one entry per file, however many snapshots or stores link it
  for (const group of groups) {
    const read = group.files.map((f) => {
      try {
        return { ...f, summary: summarizeGguf(f.path) as GgufSummary | null, error: undefined };
      } catch (error) {
        return { ...f, summary: null, error: (error as Error).message };
      }
    });
    const projectors = read.filter((f) => (f.summary ? f.summary.projector : /mmproj/i.test(f.file)));
    for (const f of read) {
      if (projectors.includes(f)) continue;
      const real = realPath(f.path);
      if (seen.has(real)) continue;
      seen.add(real);
      const picked = group.projector === undefined ? chooseProjector(projectors.map((p) => p.file), f.file) : null;
      models.push({
        source: group.source,
        name: f.name,
        path: f.path,
        architecture: f.summary?.architecture ?? null,
        quantization: f.summary?.quantization ?? null,
        sizeBytes: f.summary?.sizeBytes ?? statSync(f.path, { throwIfNoEntry: false })?.size ?? 0,
        projector: group.projector === undefined ? (projectors.find((p) => p.file === picked)?.path ?? null) : (group.projector?.path ?? null),
        ...(f.error ? { error: f.error } : {}),
      });
    }
  }
  return models;
}
