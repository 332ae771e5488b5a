// The GGUFs in the Hugging Face cache (hf-cache.ts), one group per snapshot, named by the reference that
// finds them again: hf:OWNER/REPO/PATH for the snapshot main points to, @REVISION or @COMMIT otherwise.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { COMMIT_HASH, hfCacheDir } from "./hf-cache.js";
import type { StoreGroup } from "./local-models.js";
import { snapshotFiles } from "./repo-files.js";

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** revision name for each commit the refs point to (main first). */
function refsByCommit(refs: string, prefix = ""): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of list(join(refs, prefix))) {
    const name = prefix ? `${prefix}/${entry}` : entry;
    const path = join(refs, name);
    if (statSync(path, { throwIfNoEntry: false })?.isDirectory()) {
      for (const [commit, revision] of refsByCommit(refs, name)) if (!found.has(commit)) found.set(commit, revision);
      continue;
    }
    let commit = "";
    try {
      commit = readFileSync(path, "utf8").trim();
    } catch {
      continue; // unreadable: the snapshot is still listed, by its commit
    }
    if (COMMIT_HASH.test(commit) && (!found.has(commit) || name === "main")) found.set(commit, name);
  }
  return found;
}

export function hfCacheGroups(root = hfCacheDir()): StoreGroup[] {
  const groups: StoreGroup[] = [];
  for (const folder of list(root)) {
    if (!folder.startsWith("models--")) continue; // datasets--, spaces--, .locks
    const [owner, ...rest] = folder.slice("models--".length).split("--");
    const repo = rest.join("--");
    if (!owner || !repo) continue;
    const refs = refsByCommit(join(root, folder, "refs"));
    // main's snapshot first, then other refs', then the rest: a file shared by several snapshots is named by
    // the most current one.
    const rank = (commit: string) => (refs.get(commit) === "main" ? 0 : refs.has(commit) ? 1 : 2);
    const commits = list(join(root, folder, "snapshots")).filter((c) => COMMIT_HASH.test(c));
    commits.sort((a, b) => rank(a) - rank(b));
    for (const commit of commits) {
      const snapshot = join(root, folder, "snapshots", commit);
      const ref = refs.get(commit);
      const revision = ref && !ref.includes("/") ? ref : commit; // refs/pr/1 is no revision a reference can name
      const at = revision === "main" ? "" : `@${revision}`;
      const files = snapshotFiles(snapshot)
        .filter((f) => /\.gguf$/i.test(f))
        .map((f) => ({ name: `hf:${owner}/${repo}${at}/${f}`, path: join(snapshot, ...f.split("/")), file: f }));
      if (files.length > 0) groups.push({ source: "huggingface", files });
    }
  }
  return groups;
}
