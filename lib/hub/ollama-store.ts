// Ollama's model store, read-only: $STAGEBEAM_OLLAMA_DIR, else $OLLAMA_MODELS (Ollama's own setting), else
// ~/.ollama/models. manifests/HOST/NAMESPACE/MODEL/TAG are OCI manifests whose layers name blobs/sha256-<hex>:
// the layer of media type application/vnd.ollama.image.model is the GGUF, ...image.projector its projector.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { StoreGroup } from "./local-models.js";

export function ollamaDir(): string {
  return process.env.STAGEBEAM_OLLAMA_DIR || process.env.OLLAMA_MODELS || join(homedir(), ".ollama", "models");
}

interface Manifest {
  layers?: { mediaType?: unknown; digest?: unknown }[];
}

/** llama3.2:latest for the default registry's library, NAMESPACE/MODEL:TAG or HOST/NAMESPACE/MODEL:TAG otherwise. */
function modelName(parts: string[]): string {
  const [host, namespace, model, tag] = parts as [string, string, string, string];
  if (host !== "registry.ollama.ai") return `${host}/${namespace}/${model}:${tag}`;
  return `${namespace === "library" ? "" : `${namespace}/`}${model}:${tag}`;
}

export function ollamaGroups(root = ollamaDir()): StoreGroup[] {
  const groups: StoreGroup[] = [];
  // A digest becomes a file name: only sha256:<64 hex> is one.
  const blob = (digest: unknown) => (typeof digest === "string" && /^sha256:[0-9a-f]{64}$/.test(digest) ? join(root, "blobs", digest.replace(":", "-")) : null);
  const walk = (dir: string, parts: string[]) => {
    let entries: string[];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry);
      if (parts.length < 3) {
        walk(path, [...parts, entry]);
        continue;
      }
      let manifest: Manifest;
      try {
        if (!statSync(path).isFile()) continue;
        manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
      } catch {
        continue; // not a manifest
      }
      const layer = (type: string) => blob(manifest.layers?.find((l) => l.mediaType === `application/vnd.ollama.image.${type}`)?.digest);
      const model = layer("model");
      if (!model) continue;
      const name = modelName([...parts, entry]);
      const projector = layer("projector");
      groups.push({ source: "ollama", files: [{ name, path: model, file: name }], projector: projector ? { name: `${name} (projector)`, path: projector } : null });
    }
  };
  walk(join(root, "manifests"), []);
  return groups;
}
