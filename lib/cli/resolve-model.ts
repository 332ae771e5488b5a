// A model argument is a local path or a Hub reference (hf:OWNER/REPO/FILE.gguf), pulled into the Hugging Face cache
// with a progress bar first.
import { pull } from "../hub/pull.js";
import { isHubRef } from "../hub/reference.js";
import type { Terminal } from "./terminal.js";

export async function resolveModelPath(value: string, term: Terminal, signal?: AbortSignal): Promise<string> {
  if (!isHubRef(value)) return value;
  const path = await pull(value, {
    signal,
    onProgress: (received, total) =>
      total ? term.bar(`downloading ${value}`, received / total) : term.status(`downloading ${value}: ${(received / 1e6).toFixed(1)} MB`),
  });
  term.clear();
  return path;
}
