// Downloads one file of a Hub repository into the Hugging Face cache (hf-cache.ts), the way huggingface_hub
// does, so either can use what the other fetched:
// 1. a file already in the snapshot of the revision's commit (refs/<revision>) is used with no request;
// 2. else a HEAD request to {endpoint}/OWNER/REPO/resolve/REVISION/PATH, following redirects on the same host
//    only (the Hub answers LFS files with a redirect to its CDN, and that answer carries the metadata): the commit
//    (X-Repo-Commit), the blob's name (X-Linked-Etag, else ETag: the SHA-256 of LFS files) and size
//    (X-Linked-Size, else Content-Length);
// 3. holding a lock on the blob (download-lock.ts: one download of it at a time, across processes),
//    the bytes go to blobs/<etag>.incomplete, resumed with a Range request when a partial file is there,
//    then checked (size, and SHA-256 when the etag is one), renamed to blobs/<etag>, linked from
//    snapshots/<commit>/<path>, and refs/<revision> records the commit.
// A failed or interrupted download leaves only the .incomplete file, which nothing takes for the file.
import { createHash, type Hash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createError } from "../errors.js";
import { hubHeaders, resolveUrl } from "./endpoint.js";
import { withDownloadLock } from "./download-lock.js";
import { BLOB_NAME, COMMIT_HASH, blobPath, cachedFile, downloadLockPath, hfCacheDir, linkSnapshot, snapshotPath, writeRef } from "./hf-cache.js";
import { formatHubRef, parseHubRef, type HubRef } from "./reference.js";

export interface PullOptions {
  signal?: AbortSignal;
  onProgress?: (received: number, total: number | null) => void;
  /** Called once when another process is downloading the same file and this one waits for it. */
  onWait?: (pid: number) => void;
}

/** What the Hub says about one file at one revision. */
interface FileMetadata {
  commit: string;
  etag: string;
  size: number | null;
}

const isFile = (path: string) => {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
};

async function request(url: string, init: RequestInit, name: string, signal?: AbortSignal): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal });
  } catch (error) {
    if (signal?.aborted) throw createError("ABORTED", "the download was aborted (the partial file is kept for resuming)", error);
    throw createError("DOWNLOAD_FAILED", `cannot reach ${url} for ${name} (${(error as Error).message}), and it is not in the cache ${hfCacheDir()}`, error);
  }
}

/** Turns a refusal into an error that says what to do. */
export function refusal(response: Response, url: string, name: string): Error {
  const hubCode = response.headers.get("x-error-code");
  if (response.status === 404) {
    const what = hubCode === "RevisionNotFound" ? "that revision" : hubCode === "RepoNotFound" ? "that repository" : "it";
    return createError("MODEL_NOT_FOUND", `${name}: the Hub does not have ${what} (${url})`);
  }
  if (response.status === 401 || response.status === 403) {
    const gated = hubCode === "GatedRepo" ? "the repository is gated: accept its conditions on the Hub, then " : "the repository is private, gated or missing: ";
    return createError("DOWNLOAD_FAILED", `${name} needs authorisation (HTTP ${response.status}): ${gated}set HF_TOKEN to a token that can read it`);
  }
  return createError("DOWNLOAD_FAILED", `${url} answered HTTP ${response.status} for ${name}: try again later`);
}

// huggingface_hub's _normalize_etag: W/"x" and "x" both name x.
const normalizeEtag = (etag: string | null) => (etag === null ? null : etag.replace(/^W\//, "").replace(/"/g, "").toLowerCase());

async function fileMetadata(ref: HubRef, name: string, signal?: AbortSignal): Promise<FileMetadata> {
  let url = resolveUrl(ref);
  for (let hop = 0; ; hop++) {
    const response = await request(url, { method: "HEAD", redirect: "manual", headers: hubHeaders({ "accept-encoding": "identity" }) }, name, signal);
    const location = response.headers.get("location");
    // A redirect on the same host stays on the Hub (a renamed repository): follow it. One to another host goes
    // to the CDN, and this answer already carries the metadata (huggingface_hub draws the same line).
    const target = location ? new URL(location, url) : null;
    if (response.status >= 300 && response.status < 400 && target && target.hostname === new URL(url).hostname && hop < 5) {
      url = target.toString();
      continue;
    }
    if (!response.ok && !(response.status >= 300 && response.status < 400)) throw refusal(response, url, name);
    const commit = response.headers.get("x-repo-commit") ?? "";
    const etag = normalizeEtag(response.headers.get("x-linked-etag") ?? response.headers.get("etag")) ?? "";
    const sizeHeader = response.headers.get("x-linked-size") ?? (response.ok ? response.headers.get("content-length") : null);
    if (!COMMIT_HASH.test(commit) || !BLOB_NAME.test(etag)) {
      throw createError("DOWNLOAD_FAILED", `${url} did not say which commit and blob ${name} is (X-Repo-Commit, X-Linked-Etag or ETag headers): is ${new URL(url).origin} a Hugging Face Hub?`);
    }
    return { commit, etag, size: sizeHeader === null || !/^\d+$/.test(sizeHeader) ? null : Number(sizeHeader) };
  }
}

async function hashFile(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
}

/** Downloads (or resumes) the blob into blobs/<etag>, checked, or throws leaving at most the .incomplete file. */
async function downloadBlob(ref: HubRef, meta: FileMetadata, blob: string, name: string, options: PullOptions): Promise<void> {
  mkdirSync(dirname(blob), { recursive: true });
  const part = `${blob}.incomplete`;
  let have = existsSync(part) ? statSync(part).size : 0;
  if (meta.size !== null && have > meta.size) {
    unlinkSync(part); // longer than the file: not a prefix of it
    have = 0;
  }
  const url = resolveUrl(ref, meta.commit); // the commit, not the branch: the bytes must be the etag's
  const response = await request(url, { redirect: "follow", headers: hubHeaders(have > 0 ? { range: `bytes=${have}-` } : {}) }, name, options.signal);
  if (response.status !== 416 && !response.ok) throw refusal(response, url, name);
  const resumed = response.status === 206;
  if (resumed && !new RegExp(`^bytes ${have}-`).test(response.headers.get("content-range") ?? "")) {
    unlinkSync(part);
    throw createError("DOWNLOAD_FAILED", `${url} answered a resume from byte ${have} with other bytes (${response.headers.get("content-range")}); the partial file was removed: run the same command again`);
  }
  const length = response.headers.get("content-length");
  const total = meta.size ?? (response.status === 416 ? have : length === null ? null : (resumed ? have : 0) + Number(length));

  const sha256 = meta.etag.length === 64 ? createHash("sha256") : null;
  if (response.status === 416) {
    // The partial file already holds every byte (or the server disagrees about the size: checked below).
    if (sha256) await hashFile(sha256, part);
  } else if (response.body) {
    if (resumed && sha256) await hashFile(sha256, part);
    let received = resumed ? have : 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        sha256?.update(chunk);
        options.onProgress?.(received, total);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), counter, createWriteStream(part, { flags: resumed ? "a" : "w" }), { signal: options.signal });
    } catch (error) {
      if (options.signal?.aborted) throw createError("ABORTED", "the download was aborted (the partial file is kept for resuming)", error);
      throw createError("DOWNLOAD_FAILED", `the download of ${name} broke off (${(error as Error).message}): run the same command again to resume`, error);
    }
  }

  const size = existsSync(part) ? statSync(part).size : 0;
  if (total !== null && size !== total) {
    if (size > total) unlinkSync(part);
    throw createError("DOWNLOAD_FAILED", `the download of ${name} is incomplete (${size} of ${total} bytes): run the same command again to ${size > total ? "start over" : "resume"}`);
  }
  if (sha256) {
    const actual = sha256.digest("hex");
    if (actual !== meta.etag) {
      unlinkSync(part);
      throw createError("CHECKSUM_MISMATCH", `${name} failed its checksum (expected sha256 ${meta.etag}, got ${actual}); the download was removed: try again`);
    }
  }
  renameSync(part, blob);
}

/**
 * Returns the path of `reference`'s file in the Hugging Face cache, downloading it (or resuming a partial
 * download) first when the cache does not hold it for the reference's revision.
 */
export async function pull(reference: string | HubRef, options: PullOptions = {}): Promise<string> {
  const ref = typeof reference === "string" ? parseHubRef(reference) : reference;
  const name = typeof reference === "string" ? reference : formatHubRef(ref);
  const cached = cachedFile(ref);
  if (cached) return cached;

  const meta = await fileMetadata(ref, name, options.signal);
  const pointer = snapshotPath(ref, meta.commit);
  if (!isFile(pointer)) {
    const blob = blobPath(ref.owner, ref.repo, meta.etag);
    if (!isFile(blob)) {
      // Another process may be downloading it: wait, then use its blob rather than download it again.
      await withDownloadLock(downloadLockPath(ref.owner, ref.repo, meta.etag), async () => {
        if (!isFile(blob)) await downloadBlob(ref, meta, blob, name, options);
      }, { signal: options.signal, onWait: options.onWait });
    }
    linkSnapshot(blob, pointer);
  }
  writeRef(ref.owner, ref.repo, ref.revision, meta.commit);
  return pointer;
}
