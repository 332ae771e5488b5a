// From any `hf:` reference to files on disk: a file reference is pulled as it is; a repository reference
// (hf:OWNER/REPO[:QUANT]) is listed, its GGUF of that quantization picked, and — when the caller wants one
// and the repository has one — its projector too. Both come from the same commit.
import { pickModelFile, pickProjectorFile } from "./gguf-choice.js";
import { pull } from "./pull.js";
import { parseHubRef, parseHubReference, type HubRef } from "./reference.js";
import { repoFiles } from "./repo-files.js";

export interface ResolvedHubModel {
  /** The model file in the cache. */
  model: string;
  /** The model file's path in its repository. */
  modelFile: string;
  /** The projector in the cache, when one was asked for and the repository has one. */
  projector?: string;
  projectorFile?: string;
  /** True when a repository reference was resolved: the files were picked rather than named. */
  picked: boolean;
}

export interface ResolveOptions {
  /** Also fetch the repository's projector (repository references only). */
  projector?: boolean;
  signal?: AbortSignal;
  onProgress?: (file: string, received: number, total: number | null) => void;
  /** Another process is downloading `file`; this one waits for it. */
  onWait?: (file: string, pid: number) => void;
}

export async function resolveHubModel(reference: string, options: ResolveOptions = {}): Promise<ResolvedHubModel> {
  const parsed = parseHubReference(reference);
  const download = (ref: HubRef) =>
    pull(ref, {
      signal: options.signal,
      onProgress: options.onProgress && ((received, total) => options.onProgress!(ref.path, received, total)),
      onWait: options.onWait && ((pid) => options.onWait!(ref.path, pid)),
    });
  if (parsed.kind === "file") {
    const { kind: _, ...ref } = parsed;
    return { model: await download(ref), modelFile: ref.path, picked: false };
  }
  const listing = await repoFiles(parsed, reference, options.signal);
  // Paths come from the server: they pass the same checks as a user's reference before touching the disk.
  const fileRef = (path: string) => parseHubRef(`hf:${parsed.owner}/${parsed.repo}@${listing.commit}/${path}`);
  const modelFile = pickModelFile(listing.files, parsed.quant, reference);
  const projectorFile = options.projector ? pickProjectorFile(listing.files, modelFile) : null;
  const model = await download(fileRef(modelFile));
  if (!projectorFile) return { model, modelFile, picked: true };
  return { model, modelFile, projector: await download(fileRef(projectorFile)), projectorFile, picked: true };
}
