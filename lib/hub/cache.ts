// Where stagebeam keeps its own files (the demo's tiny models, Hub file listings): $STAGEBEAM_CACHE, else
// $XDG_CACHE_HOME/stagebeam, else the platform's cache folder (~/Library/Caches on macOS, %LOCALAPPDATA% on
// Windows, ~/.cache elsewhere). Models from the Hub go to the Hugging Face cache instead (hf-cache.ts).
import { homedir } from "node:os";
import { join } from "node:path";

export function cacheDir(): string {
  if (process.env.STAGEBEAM_CACHE) return process.env.STAGEBEAM_CACHE;
  if (process.env.XDG_CACHE_HOME) return join(process.env.XDG_CACHE_HOME, "stagebeam");
  if (process.platform === "darwin") return join(homedir(), "Library", "Caches", "stagebeam");
  if (process.platform === "win32" && process.env.LOCALAPPDATA) return join(process.env.LOCALAPPDATA, "stagebeam", "cache");
  return join(homedir(), ".cache", "stagebeam");
}
