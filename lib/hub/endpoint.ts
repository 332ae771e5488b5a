// Where the Hub is and how to ask it: $STAGEBEAM_HF_ENDPOINT, else $HF_ENDPOINT (a mirror, or a local server
// in tests), else https://huggingface.co; with `Authorization: Bearer <token>` when there is a token: $HF_TOKEN
// (or its old name $HUGGING_FACE_HUB_TOKEN), else the file `hf auth login` writes ($HF_TOKEN_PATH, else
// $HF_HOME/token), so gated repositories the user has accepted work as they do in Python.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { hfHome } from "./hf-cache.js";
import type { HubRef } from "./reference.js";

export function hubEndpoint(): string {
  return (process.env.STAGEBEAM_HF_ENDPOINT || process.env.HF_ENDPOINT || "https://huggingface.co").replace(/\/+$/, "");
}

function hubToken(): string | null {
  const fromEnv = process.env.HF_TOKEN || process.env.HUGGING_FACE_HUB_TOKEN;
  if (fromEnv) return fromEnv.trim();
  try {
    return readFileSync(process.env.HF_TOKEN_PATH || join(hfHome(), "token"), "utf8").trim() || null;
  } catch {
    return null;
  }
}

export function hubHeaders(extra: Record<string, string> = {}): Record<string, string> {
  const token = hubToken();
  return { "user-agent": "stagebeam", ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra };
}

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/** {endpoint}/OWNER/REPO/resolve/REVISION/PATH: the URL layout every Hub client downloads from. */
export function resolveUrl(ref: HubRef, revision = ref.revision): string {
  return `${hubEndpoint()}/${ref.owner}/${ref.repo}/resolve/${encodeURIComponent(revision)}/${encodePath(ref.path)}`;
}

/** {endpoint}/api/models/OWNER/REPO/revision/REVISION: the commit a revision points to and its files. */
export function revisionApiUrl(owner: string, repo: string, revision: string): string {
  return `${hubEndpoint()}/api/models/${owner}/${repo}/revision/${encodeURIComponent(revision)}`;
}
