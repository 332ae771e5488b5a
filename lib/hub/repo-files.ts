// The files of a Hub repository at a revision, to pick a quantization and a projector from
// (`hf:OWNER/REPO:QUANT`). The Hub's {endpoint}/api/models/OWNER/REPO/revision/REVISION answers the commit the
// revision points to (`sha`) and every file (`siblings[].rfilename`). A commit's file list never changes, so
// it is kept in stagebeam's own cache (hub-listings/, beside nothing of huggingface_hub's): the next run finds
// refs/<revision> → commit → its list, and needs no network. With no stored list and no network, the files
// already in the commit's snapshot stand in for it.
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createError } from "../errors.js";
import { cacheDir } from "./cache.js";
import { hubHeaders, revisionApiUrl } from "./endpoint.js";
import { COMMIT_HASH, commitOf, repoFolder, writeRef } from "./hf-cache.js";
import { refusal } from "./pull.js";
import type { HubRepoRef } from "./reference.js";

export interface RepoFiles {
  commit: string;
  files: string[];
  /** True when the list is what the local snapshot holds (the Hub could not be reached). */
  offline: boolean;
}

function listingPath(owner: string, repo: string, commit: string): string {
  return join(cacheDir(), "hub-listings", `models--${owner}--${repo}`, `${commit}.json`);
}

function storedListing(owner: string, repo: string, commit: string): string[] | null {
  try {
    const files = JSON.parse(readFileSync(listingPath(owner, repo, commit), "utf8")) as unknown;
    return Array.isArray(files) && files.every((f) => typeof f === "string") ? files : null;
  } catch {
    return null;
  }
}

function storeListing(owner: string, repo: string, commit: string, files: string[]): void {
  const path = listingPath(owner, repo, commit);
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(files));
  renameSync(temporary, path);
}

/** Files present in a snapshot folder (links followed; a link to a missing blob is not a file). */
export function snapshotFiles(folder: string, prefix = ""): string[] {
  let entries: string[];
  try {
    entries = readdirSync(join(folder, prefix)).sort();
  } catch {
    return [];
  }
  return entries.flatMap((entry) => {
    const rel = prefix ? `${prefix}/${entry}` : entry;
    try {
      const s = statSync(join(folder, rel));
      return s.isDirectory() ? snapshotFiles(folder, rel) : s.isFile() ? [rel] : [];
    } catch {
      return [];
    }
  });
}

export async function repoFiles(ref: HubRepoRef, name: string, signal?: AbortSignal): Promise<RepoFiles> {
  const known = commitOf(ref.owner, ref.repo, ref.revision);
  const stored = known ? storedListing(ref.owner, ref.repo, known) : null;
  if (known && stored) return { commit: known, files: stored, offline: false };

  const url = revisionApiUrl(ref.owner, ref.repo, ref.revision);
  let response: Response;
  try {
    response = await fetch(url, { headers: hubHeaders({ accept: "application/json" }), signal });
  } catch (error) {
    if (signal?.aborted) throw createError("ABORTED", "listing the repository was aborted", error);
    const local = known ? snapshotFiles(join(repoFolder(ref.owner, ref.repo), "snapshots", known)) : [];
    if (known && local.length > 0) return { commit: known, files: local, offline: true };
    throw createError("DOWNLOAD_FAILED", `cannot reach ${url} to list ${name} (${(error as Error).message}), and the cache holds nothing of it`, error);
  }
  if (!response.ok) throw refusal(response, url, name);
  let body: { sha?: unknown; siblings?: { rfilename?: unknown }[] };
  try {
    body = (await response.json()) as typeof body;
  } catch (error) {
    throw createError("DOWNLOAD_FAILED", `${url} did not answer JSON for ${name}: is the endpoint a Hugging Face Hub?`, error);
  }
  const commit = typeof body.sha === "string" ? body.sha : "";
  if (!COMMIT_HASH.test(commit) || !Array.isArray(body.siblings)) {
    throw createError("DOWNLOAD_FAILED", `${url} did not give ${name}'s commit and files (sha, siblings): is the endpoint a Hugging Face Hub?`);
  }
  const files = body.siblings.map((s) => s?.rfilename).filter((f): f is string => typeof f === "string");
  storeListing(ref.owner, ref.repo, commit, files);
  writeRef(ref.owner, ref.repo, ref.revision, commit);
  return { commit, files, offline: false };
}
