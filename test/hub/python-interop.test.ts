// stagebeam and Python's huggingface_hub share one cache: what either downloads, the other finds without a
// request. Runs with the Python venv `npm test` builds for the mllama parity tests (transformers brings
// huggingface_hub); skipped with a warning where it is missing.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { pull } from "../../lib/hub/pull.js";
import { repoRoot } from "../fixtures/models.js";
import { commitFor, startFakeHub, type FakeHub } from "./hub-server.js";

const python = join(repoRoot, "test", ".venv-mllama", "bin", "python");
const run = promisify(execFile);
const hasHubLibrary = existsSync(python) && (await run(python, ["-c", "import huggingface_hub"]).then(() => true, () => false));
if (!hasHubLibrary) console.warn(`python-interop: skipped, ${python} with huggingface_hub is missing (npm test builds it)`);

const repo = {
  owner: "owner",
  repo: "shared",
  commit: commitFor("owner/shared"),
  files: { "a.gguf": Buffer.from("GGUF bytes of a".repeat(1000)), "sub/b.gguf": Buffer.from("GGUF bytes of b".repeat(1000)) },
};
let hub: FakeHub;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  hub = await startFakeHub([repo]);
  const home = mkdtempSync(join(tmpdir(), "stagebeam-interop-"));
  env = { ...process.env, HF_HOME: home, HF_HUB_CACHE: join(home, "hub"), HF_ENDPOINT: hub.url, HF_HUB_DISABLE_TELEMETRY: "1", HF_HUB_DISABLE_PROGRESS_BARS: "1" };
  delete env.HF_TOKEN;
  Object.assign(process.env, { HF_HOME: env.HF_HOME, HF_HUB_CACHE: env.HF_HUB_CACHE, STAGEBEAM_HF_ENDPOINT: hub.url, STAGEBEAM_CACHE: join(home, "stagebeam") });
});

afterAll(async () => {
  await hub?.close();
  for (const name of ["HF_HOME", "HF_HUB_CACHE", "STAGEBEAM_HF_ENDPOINT", "STAGEBEAM_CACHE"]) delete process.env[name];
});

const hfDownload = async (file: string, extraEnv: Record<string, string> = {}) =>
  (await run(python, ["-c", `import sys; from huggingface_hub import hf_hub_download; print(hf_hub_download("owner/shared", sys.argv[1]))`, file], { env: { ...env, ...extraEnv }, timeout: 60_000 })).stdout.trim();

test.skipIf(!hasHubLibrary)("huggingface_hub finds, offline, what stagebeam downloaded", async () => {
  const ours = await pull("hf:owner/shared/a.gguf");
  expect(await hfDownload("a.gguf", { HF_HUB_OFFLINE: "1" })).toBe(ours);
}, 60_000);

test.skipIf(!hasHubLibrary)("stagebeam finds, with no request, what huggingface_hub downloaded", async () => {
  const theirs = await hfDownload("sub/b.gguf");
  hub.requests = [];
  const ours = await pull("hf:owner/shared/sub/b.gguf");
  expect(ours).toBe(theirs);
  expect(readFileSync(ours).equals(repo.files["sub/b.gguf"])).toBe(true);
  expect(hub.requests).toHaveLength(0);
}, 60_000);
