// LM Studio's model folder, read-only: $STAGEBEAM_LMSTUDIO_DIR, else ~/.lmstudio/models, else
// ~/.cache/lm-studio/models (older versions), whichever exists. It holds PUBLISHER/REPO/FILE.gguf, a model's
// mmproj beside it; one group per folder.
import { existsSync, readdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, relative } from "node:path";
import type { StoreGroup } from "./local-models.js";

export function lmStudioDir(): string | null {
  if (process.env.STAGEBEAM_LMSTUDIO_DIR) return process.env.STAGEBEAM_LMSTUDIO_DIR;
  return [join(homedir(), ".lmstudio", "models"), join(homedir(), ".cache", "lm-studio", "models")].find((dir) => existsSync(dir)) ?? null;
}

export function lmStudioGroups(root = lmStudioDir()): StoreGroup[] {
  if (!root) return [];
  const groups: StoreGroup[] = [];
  const walk = (dir: string, depth: number) => {
    let entries: string[];
    try {
      entries = readdirSync(dir).filter((e) => !e.startsWith(".")).sort();
    } catch {
      return;
    }
    const files: StoreGroup["files"] = [];
    for (const entry of entries) {
      const path = join(dir, entry);
      const s = statSync(path, { throwIfNoEntry: false });
      if (s?.isDirectory() && depth < 3) walk(path, depth + 1);
      else if (s?.isFile() && /\.gguf$/i.test(entry)) files.push({ name: relative(root, path).split("\\").join("/"), path, file: entry });
    }
    if (files.length > 0) groups.push({ source: "lmstudio", files });
  };
  walk(root, 0);
  return groups;
}
