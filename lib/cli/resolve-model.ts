// A model argument is a local path or a Hub reference (hf:OWNER/REPO/FILE.gguf, hf:OWNER/REPO:QUANT,
// hf:OWNER/REPO), fetched into the Hugging Face cache with a progress bar first. A repository reference also
// brings the repository's projector when the command wants one and none was given: an explicit --projector
// always wins. What was picked is said on stderr (`say`), never on stdout, which is the command's output.
import { pull } from "../hub/pull.js";
import { isHubRef, parseHubReference } from "../hub/reference.js";
import { resolveHubModel } from "../hub/resolve-reference.js";
import type { Terminal } from "./terminal.js";

export interface ModelFiles {
  model: string;
  projector?: string;
}

export interface ResolveModelOptions {
  /** The command can use a projector: take the repository's when `projector` is not given. */
  wantProjector?: boolean;
  /** Where to say which files a repository reference picked (nothing when absent, e.g. --quiet). */
  say?: (line: string) => void;
  signal?: AbortSignal;
}

const progress = (term: Terminal) => (file: string, received: number, total: number | null) =>
  total ? term.bar(`downloading ${file}`, received / total) : term.status(`downloading ${file}: ${(received / 1e6).toFixed(1)} MB`);

/** Whether `model` is a repository reference, which can bring its projector along. */
export function bringsProjector(model: string): boolean {
  try {
    return isHubRef(model) && parseHubReference(model).kind === "repo";
  } catch {
    return false; // malformed: resolving it reports why
  }
}

export async function resolveModelFiles(model: string, projector: string | undefined, term: Terminal, options: ResolveModelOptions = {}): Promise<ModelFiles> {
  const { signal, say } = options;
  let files: ModelFiles = { model };
  if (isHubRef(model)) {
    const onWait = (file: string, pid: number) => say?.(`${file}: waiting for another process (pid ${pid}) that is downloading it`);
    const resolved = await resolveHubModel(model, { projector: options.wantProjector && !projector, signal, onProgress: progress(term), onWait });
    term.clear();
    if (resolved.picked) say?.(`${model}: model ${resolved.modelFile}`);
    if (resolved.projectorFile) say?.(`${model}: projector ${resolved.projectorFile} (--projector to use another)`);
    files = { model: resolved.model, projector: resolved.projector };
  }
  if (projector) {
    const onProgress = progress(term);
    const path = isHubRef(projector) ? await pull(projector, { signal, onProgress: (received, total) => onProgress(projector, received, total) }) : projector;
    term.clear();
    files = { ...files, projector: path };
  }
  return files;
}
