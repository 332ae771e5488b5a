// Downloads a GGUF from the Hugging Face Hub: `hf:OWNER/REPO/FILE.gguf` (or `hf:OWNER/REPO/PATH/FILE`,
// optionally `@REVISION` after the repo) resolves to {endpoint}/OWNER/REPO/resolve/REVISION/PATH, the URL
// layout real clients use. The file lands in the cache; a partial download is kept as `.part` and resumed
// with a Range request; the size is checked against the server's and the SHA-256 against the LFS etag
// (X-Linked-Etag) when the server gives one.
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync, unlinkSync } from "node:fs";
import { dirname, isAbsolute, relative, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable, Transform } from "node:stream";
import { createError } from "../errors.js";
import { cacheDir } from "./cache.js";

export interface HubRef {
  owner: string;
  repo: string;
  revision: string;
  path: string;
}

// Owner, repo and revision as the Hub spells them; file path segments that cannot climb out of the cache
// folder (no "..", ".", empty segments, backslashes, drive colons or control characters) — a reference
// is user input, and its parts become folder names on this machine.
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SEGMENT = /^(?!\.\.?$)[^\\:\x00-\x1f]+$/;

export function parseHubRef(ref: string): HubRef {
  const m = /^hf:([^/\s]+)\/([^/@\s]+)(?:@([^/\s]+))?\/(.+\.gguf)$/i.exec(ref);
  const usage = "use hf:OWNER/REPO/FILE.gguf (optionally hf:OWNER/REPO@REVISION/FILE.gguf)";
  if (!m) throw createError("INVALID_ARGUMENT", `"${ref}" is not a Hub reference: ${usage}`);
  const [, owner, repo, revision = "main", path] = m as unknown as [string, string, string, string | undefined, string];
  for (const [what, value] of [["owner", owner], ["repository", repo], ["revision", revision]] as const) {
    if (!NAME.test(value) || value.includes("..")) throw createError("INVALID_ARGUMENT", `"${ref}": the ${what} "${value}" is not a Hub name (letters, digits, '.', '_', '-'): ${usage}`);
  }
  if (!path.split("/").every((segment) => SEGMENT.test(segment))) {
    throw createError("INVALID_ARGUMENT", `"${ref}": the file path "${path}" has an empty, "." or ".." segment or a character a file name cannot hold: ${usage}`);
  }
  return { owner, repo, revision, path };
}

export const isHubRef = (value: string) => value.startsWith("hf:");

export function hubUrl(ref: HubRef, endpoint = process.env.STAGEBEAM_HF_ENDPOINT ?? process.env.HF_ENDPOINT ?? "https://huggingface.co"): string {
  return `${endpoint.replace(/\/$/, "")}/${ref.owner}/${ref.repo}/resolve/${encodeURIComponent(ref.revision)}/${ref.path.split("/").map(encodeURIComponent).join("/")}`;
}

export function cachedPath(ref: HubRef): string {
  const root = resolve(cacheDir(), "hf");
  const path = resolve(root, ref.owner, ref.repo, ref.revision, ...ref.path.split("/"));
  // parseHubRef already refuses what could climb out; this holds for HubRefs made by hand too.
  if (relative(root, path).startsWith("..") || isAbsolute(relative(root, path))) {
    throw createError("INVALID_ARGUMENT", `${ref.owner}/${ref.repo}/${ref.path} would be stored outside the cache folder ${root}`);
  }
  return path;
}

export interface PullOptions {
  signal?: AbortSignal;
  onProgress?: (received: number, total: number | null) => void;
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  await pipeline(createReadStream(path), hash);
  return hash.digest("hex");
}

/** Downloads (or resumes) `ref` into the cache and returns the file's path; a cached file returns at once. */
export async function pull(reference: string, options: PullOptions = {}): Promise<string> {
  const ref = parseHubRef(reference);
  const target = cachedPath(ref);
  if (existsSync(target)) return target;
  mkdirSync(dirname(target), { recursive: true });
  const part = `${target}.part`;
  const have = existsSync(part) ? statSync(part).size : 0;
  const url = hubUrl(ref);

  let response: Response;
  try {
    response = await fetch(url, { headers: have > 0 ? { Range: `bytes=${have}-` } : {}, signal: options.signal, redirect: "follow" });
  } catch (error) {
    if (options.signal?.aborted) throw createError("ABORTED", "the download was aborted (the partial file is kept for resuming)", error);
    throw createError("DOWNLOAD_FAILED", `cannot reach ${url}: ${(error as Error).message}`, error);
  }
  if (response.status === 404) throw createError("MODEL_NOT_FOUND", `${reference} does not exist on the Hub (${url})`);
  if (response.status === 401 || response.status === 403) {
    throw createError("DOWNLOAD_FAILED", `${url} needs authorisation (HTTP ${response.status}): the repository may be gated`);
  }
  if (response.status === 416) {
    // Range beyond the end: the partial file is already complete (or bigger than the file); recheck below.
  } else if (!response.ok) {
    throw createError("DOWNLOAD_FAILED", `downloading ${url} failed with HTTP ${response.status}`);
  }
  const resumed = response.status === 206;
  const offset = resumed ? have : 0;
  const lengthHeader = response.headers.get("content-length");
  const total = response.status === 416 ? have : lengthHeader === null ? null : offset + Number(lengthHeader);
  const expectedSha = (response.headers.get("x-linked-etag") ?? "").replace(/"/g, "").toLowerCase();

  if (response.status !== 416 && response.body) {
    let received = offset;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        received += chunk.length;
        options.onProgress?.(received, total);
        done(null, chunk);
      },
    });
    try {
      await pipeline(Readable.fromWeb(response.body as import("node:stream/web").ReadableStream), counter, createWriteStream(part, { flags: resumed ? "a" : "w" }), {
        signal: options.signal,
      });
    } catch (error) {
      if (options.signal?.aborted) throw createError("ABORTED", "the download was aborted (the partial file is kept for resuming)", error);
      throw createError("DOWNLOAD_FAILED", `the download of ${url} broke off (${(error as Error).message}): run the same command again to resume`, error);
    }
  }

  const size = statSync(part).size;
  if (total !== null && size !== total) {
    throw createError("DOWNLOAD_FAILED", `the download of ${url} is incomplete (${size} of ${total} bytes): run the same command again to resume`);
  }
  if (/^[0-9a-f]{64}$/.test(expectedSha)) {
    const actual = await sha256File(part);
    if (actual !== expectedSha) {
      unlinkSync(part);
      throw createError("CHECKSUM_MISMATCH", `${reference} failed its checksum (expected sha256 ${expectedSha}, got ${actual}); the download was removed: try again`);
    }
  }
  renameSync(part, target);
  return target;
}
