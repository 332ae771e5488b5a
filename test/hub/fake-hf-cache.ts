// Builds a Hugging Face cache folder as huggingface_hub would have left it: blobs named by SHA-256,
// snapshots/<commit>/<path> linking to them (or copies, as on Windows without symlinks), refs/<revision>.
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { sha256 } from "./hub-server.js";

export function populateHfCache(
  root: string,
  repo: { owner: string; repo: string; commit: string; files: Record<string, Buffer> },
  options: { copies?: boolean; revision?: string } = {},
): string {
  const folder = join(root, `models--${repo.owner}--${repo.repo}`);
  for (const [path, body] of Object.entries(repo.files)) {
    const blob = join(folder, "blobs", sha256(body));
    mkdirSync(dirname(blob), { recursive: true });
    writeFileSync(blob, body);
    const pointer = join(folder, "snapshots", repo.commit, ...path.split("/"));
    mkdirSync(dirname(pointer), { recursive: true });
    if (options.copies) writeFileSync(pointer, body);
    else symlinkSync(relative(dirname(pointer), blob), pointer);
  }
  mkdirSync(join(folder, "refs"), { recursive: true });
  writeFileSync(join(folder, "refs", options.revision ?? "main"), repo.commit);
  return folder;
}
