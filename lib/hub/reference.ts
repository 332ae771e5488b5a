// What a `hf:` reference names. Three forms:
//   hf:OWNER/REPO[@REVISION]/PATH/FILE.gguf   one file
//   hf:OWNER/REPO[@REVISION]:QUANT            the repository's GGUF of that quantization (e.g. Q4_K_M)
//   hf:OWNER/REPO[@REVISION]                  the repository's default GGUF (Q4_K_M if present, else the first)
// A reference is user input and its parts become folder names on this machine, so owner, repo and revision
// must be Hub names and file path segments must not be able to climb out of the cache folder (no "..", ".",
// empty segments, backslashes, drive colons or control characters).
import { createError } from "../errors.js";

/** One file in a Hub repository. */
export interface HubRef {
  owner: string;
  repo: string;
  revision: string;
  path: string;
}

/** A repository and, optionally, the quantization to pick from it (null: the default). */
export interface HubRepoRef {
  owner: string;
  repo: string;
  revision: string;
  quant: string | null;
}

export type HubReference = ({ kind: "file" } & HubRef) | ({ kind: "repo" } & HubRepoRef);

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const SEGMENT = /^(?!\.\.?$)[^\\:\x00-\x1f]+$/;
const QUANT = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const USAGE = "use hf:OWNER/REPO/FILE.gguf, hf:OWNER/REPO:QUANT or hf:OWNER/REPO (optionally @REVISION after the repository)";

export const isHubRef = (value: string) => value.startsWith("hf:");

/** An owner, repository or revision name as the Hub spells them; never ".." or anything with a slash. */
export const isHubName = (value: string) => NAME.test(value) && !value.includes("..");

function checkNames(ref: string, owner: string, repo: string, revision: string): void {
  for (const [what, value] of [["owner", owner], ["repository", repo], ["revision", revision]] as const) {
    if (!isHubName(value)) throw createError("INVALID_ARGUMENT", `"${ref}": the ${what} "${value}" is not a Hub name (letters, digits, '.', '_', '-'): ${USAGE}`);
  }
}

/** Parses the one-file form, hf:OWNER/REPO[@REVISION]/PATH.gguf. */
export function parseHubRef(ref: string): HubRef {
  const m = /^hf:([^/\s]+)\/([^/@\s]+)(?:@([^/\s]+))?\/(.+\.gguf)$/i.exec(ref);
  if (!m) throw createError("INVALID_ARGUMENT", `"${ref}" is not a Hub file reference: use hf:OWNER/REPO/FILE.gguf (optionally hf:OWNER/REPO@REVISION/FILE.gguf)`);
  const [, owner, repo, revision = "main", path] = m as unknown as [string, string, string, string | undefined, string];
  checkNames(ref, owner, repo, revision);
  if (!path.split("/").every((segment) => SEGMENT.test(segment))) {
    throw createError("INVALID_ARGUMENT", `"${ref}": the file path "${path}" has an empty, "." or ".." segment or a character a file name cannot hold: ${USAGE}`);
  }
  return { owner, repo, revision, path };
}

/** Parses any of the three forms. */
export function parseHubReference(ref: string): HubReference {
  const repoForm = /^hf:([^/\s:]+)\/([^/@\s:]+)(?:@([^/\s:]+))?(?::([^/\s]+))?$/.exec(ref);
  if (!repoForm) return { kind: "file", ...parseHubRef(ref) };
  const [, owner, repo, revision = "main", quant] = repoForm as unknown as [string, string, string, string | undefined, string | undefined];
  // hf:OWNER/FILE.gguf is a file without its repository, not a repository named FILE.gguf.
  if (/\.gguf$/i.test(repo)) throw createError("INVALID_ARGUMENT", `"${ref}" names a file but no repository: ${USAGE}`);
  checkNames(ref, owner, repo, revision);
  if (quant !== undefined && !QUANT.test(quant)) throw createError("INVALID_ARGUMENT", `"${ref}": "${quant}" is not a quantization name (such as Q4_K_M, Q8_0 or F16): ${USAGE}`);
  return { kind: "repo", owner, repo, revision, quant: quant ?? null };
}

/** The reference of one file, as a user would write it (the revision only when it is not main). */
export function formatHubRef(ref: HubRef): string {
  return `hf:${ref.owner}/${ref.repo}${ref.revision === "main" ? "" : `@${ref.revision}`}/${ref.path}`;
}
