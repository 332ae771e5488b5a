// The Hugging Face cache, laid out as huggingface_hub lays it out, so that Python tools and stagebeam share
// one copy of every file:
//   <root>/models--OWNER--REPO/blobs/<etag>                 the bytes (etag: the SHA-256 for LFS files)
//   <root>/models--OWNER--REPO/snapshots/<commit>/<path>    a relative symlink to ../../blobs/<etag> (a copy
//                                                           where symlinks cannot be made)
//   <root>/models--OWNER--REPO/refs/<revision>              the commit hash the revision last pointed to
// The root is $HF_HUB_CACHE, else $HUGGINGFACE_HUB_CACHE (its old name), else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub: the same on every platform, as in Python.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { createError } from "../errors.js";
import { isHubName, type HubRef } from "./reference.js";

export const COMMIT_HASH = /^[0-9a-f]{40}$/;
// Git blob ids (40 hex) for small files, SHA-256 (64 hex) for LFS files: the only names a blob may have.
export const BLOB_NAME = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

export function hfHome(): string {
  return process.env.HF_HOME || join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "huggingface");
}

export function hfCacheDir(): string {
  return resolve(process.env.HF_HUB_CACHE || process.env.HUGGINGFACE_HUB_CACHE || join(hfHome(), "hub"));
}

/** A path inside the cache root, or INVALID_ARGUMENT if it would land outside (a HubRef made by hand). */
function inside(root: string, ...parts: string[]): string {
  const path = resolve(root, ...parts);
  const rel = relative(root, path);
  if (rel === "" || rel.startsWith("..") || isAbsolute(rel)) throw createError("INVALID_ARGUMENT", `${parts.join("/")} would be stored outside the cache folder ${root}`);
  return path;
}

function checkName(what: string, value: string): void {
  if (!isHubName(value)) throw createError("INVALID_ARGUMENT", `the ${what} "${value}" is not a Hub name (letters, digits, '.', '_', '-')`);
}

export function repoFolder(owner: string, repo: string, root = hfCacheDir()): string {
  checkName("owner", owner);
  checkName("repository", repo);
  return inside(root, `models--${owner}--${repo}`);
}

/** Where `ref`'s file is (or will be) in the snapshot of `commit`. */
export function snapshotPath(ref: HubRef, commit: string, root = hfCacheDir()): string {
  if (!COMMIT_HASH.test(commit)) throw createError("INVALID_ARGUMENT", `"${commit}" is not a commit hash`);
  const folder = repoFolder(ref.owner, ref.repo, root);
  return inside(folder, "snapshots", commit, ...ref.path.split("/"));
}

export function blobPath(owner: string, repo: string, etag: string, root = hfCacheDir()): string {
  if (!BLOB_NAME.test(etag)) throw createError("INVALID_ARGUMENT", `"${etag}" is not a blob hash`);
  return join(repoFolder(owner, repo, root), "blobs", etag);
}

/** The lock stagebeam holds while downloading a blob (download-lock.ts), in the cache's .locks folder. */
export function downloadLockPath(owner: string, repo: string, etag: string, root = hfCacheDir()): string {
  if (!BLOB_NAME.test(etag)) throw createError("INVALID_ARGUMENT", `"${etag}" is not a blob hash`);
  return inside(root, ".locks", `models--${owner}--${repo}`, `${etag}.stagebeam.lock`);
}

/** The commit a revision stands for: itself when it is a commit hash, else what refs/<revision> says. */
export function commitOf(owner: string, repo: string, revision: string, root = hfCacheDir()): string | null {
  if (COMMIT_HASH.test(revision)) return revision;
  checkName("revision", revision);
  try {
    const commit = readFileSync(inside(repoFolder(owner, repo, root), "refs", revision), "utf8").trim();
    return COMMIT_HASH.test(commit) ? commit : null;
  } catch {
    return null;
  }
}

/** Records that `revision` points at `commit` (written whole, then renamed: readers never see half a hash). */
export function writeRef(owner: string, repo: string, revision: string, commit: string, root = hfCacheDir()): void {
  if (revision === commit) return;
  checkName("revision", revision);
  const path = inside(repoFolder(owner, repo, root), "refs", revision);
  if (commitOf(owner, repo, revision, root) === commit) return;
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, commit);
  renameSync(temporary, path);
}

/** The cached file for `ref`, found with no network: the snapshot of the revision's commit, if it holds it. */
export function cachedFile(ref: HubRef, root = hfCacheDir()): string | null {
  const commit = commitOf(ref.owner, ref.repo, ref.revision, root);
  if (!commit) return null;
  const path = snapshotPath(ref, commit, root);
  try {
    return statSync(path).isFile() ? path : null; // follows the link: a link to a missing blob is no file
  } catch {
    return null;
  }
}

/**
 * Points the snapshot entry at its blob with a relative symlink, as huggingface_hub does. Where links
 * cannot be made (Windows without developer mode), the snapshot gets a copy, written under a temporary name
 * and renamed, so a half-copied file never sits at the snapshot path.
 */
export function linkSnapshot(blob: string, pointer: string): void {
  mkdirSync(dirname(pointer), { recursive: true });
  rmSync(pointer, { force: true }); // a stale link, e.g. to a blob someone deleted
  try {
    symlinkSync(relative(dirname(pointer), blob), pointer);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "EACCES" && code !== "ENOTSUP" && code !== "EOPNOTSUPP" && code !== "EINVAL") throw error;
  }
  const temporary = `${pointer}.${process.pid}.incomplete`;
  try {
    copyFileSync(blob, temporary);
    renameSync(temporary, pointer);
  } finally {
    if (existsSync(temporary)) rmSync(temporary, { force: true });
  }
}
