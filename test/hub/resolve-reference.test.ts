// hf:OWNER/REPO:QUANT and hf:OWNER/REPO against the local stand-in for the Hub: the listing, the picked model
// and projector, and a second resolution with no request at all.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, beforeEach, expect, test } from "vitest";
import { parseHubReference } from "../../lib/hub/reference.js";
import { resolveHubModel } from "../../lib/hub/resolve-reference.js";
import { populateHfCache } from "./fake-hf-cache.js";
import { commitFor, startFakeHub, type FakeHub } from "./hub-server.js";

const file = (text: string) => Buffer.from(text.repeat(500));
const repo = {
  owner: "ggml-org",
  repo: "tiny-vl-GGUF",
  commit: commitFor("ggml-org/tiny-vl-GGUF"),
  files: {
    "README.md": file("readme"),
    "tiny-vl-Q4_K_M.gguf": file("q4km"),
    "tiny-vl-Q8_0.gguf": file("q8"),
    "mmproj-tiny-vl-f16.gguf": file("proj f16"),
    "mmproj-tiny-vl-Q8_0.gguf": file("proj q8"),
  },
};
const textOnly = { owner: "o", repo: "text-GGUF", commit: commitFor("o/text-GGUF"), files: { "text-F16.gguf": file("f16") } };
let hub: FakeHub;

beforeAll(async () => {
  hub = await startFakeHub([repo, textOnly]);
  process.env.STAGEBEAM_HF_ENDPOINT = hub.url;
});

beforeEach(() => {
  const home = mkdtempSync(join(tmpdir(), "stagebeam-resolve-"));
  Object.assign(process.env, { HF_HOME: home, HF_HUB_CACHE: join(home, "hub"), STAGEBEAM_CACHE: join(home, "stagebeam") });
  hub.requests = [];
  hub.mode = "ok";
});

afterAll(async () => {
  await hub.close();
  for (const name of ["STAGEBEAM_HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "STAGEBEAM_CACHE"]) delete process.env[name];
});

test("the three reference forms parse", () => {
  expect(parseHubReference("hf:o/r:q4_k_m")).toEqual({ kind: "repo", owner: "o", repo: "r", revision: "main", quant: "q4_k_m" });
  expect(parseHubReference("hf:o/r@v1")).toEqual({ kind: "repo", owner: "o", repo: "r", revision: "v1", quant: null });
  expect(parseHubReference("hf:o/r/a/b.gguf")).toEqual({ kind: "file", owner: "o", repo: "r", revision: "main", path: "a/b.gguf" });
  for (const bad of ["hf:o/model.gguf", "hf:o/r:Q4 K", "hf:o/..:Q8_0", "hf:o/r@..:Q8_0", "hf:o"]) {
    expect(() => parseHubReference(bad), bad).toThrow(expect.objectContaining({ code: "INVALID_ARGUMENT" }));
  }
});

test("hf:OWNER/REPO:QUANT picks that file and the projector that matches it; a second time needs no network", async () => {
  const first = await resolveHubModel("hf:ggml-org/tiny-vl-GGUF:q8_0", { projector: true });
  expect(first.modelFile).toBe("tiny-vl-Q8_0.gguf");
  expect(first.projectorFile).toBe("mmproj-tiny-vl-Q8_0.gguf");
  expect(readFileSync(first.model).equals(repo.files["tiny-vl-Q8_0.gguf"])).toBe(true);
  expect(readFileSync(first.projector!).equals(repo.files["mmproj-tiny-vl-Q8_0.gguf"])).toBe(true);
  expect(first.model).toBe(join(process.env.HF_HUB_CACHE!, "models--ggml-org--tiny-vl-GGUF", "snapshots", repo.commit, "tiny-vl-Q8_0.gguf"));
  expect(hub.requests[0]!.url).toBe("/api/models/ggml-org/tiny-vl-GGUF/revision/main");
  hub.requests = [];
  expect(await resolveHubModel("hf:ggml-org/tiny-vl-GGUF:Q8_0", { projector: true })).toEqual(first);
  expect(hub.requests).toHaveLength(0);
});

test("hf:OWNER/REPO picks Q4_K_M and the F16 projector; without a projector asked for, none is fetched", async () => {
  const picked = await resolveHubModel("hf:ggml-org/tiny-vl-GGUF", { projector: true });
  expect([picked.modelFile, picked.projectorFile]).toEqual(["tiny-vl-Q4_K_M.gguf", "mmproj-tiny-vl-f16.gguf"]);
  hub.requests = [];
  const alone = await resolveHubModel("hf:ggml-org/tiny-vl-GGUF:Q8_0");
  expect(alone.projector).toBeUndefined();
  expect(hub.requests.some((r) => r.url.includes("mmproj"))).toBe(false);
  const text = await resolveHubModel("hf:o/text-GGUF", { projector: true });
  expect([text.modelFile, text.projector]).toEqual(["text-F16.gguf", undefined]);
});

test("a missing quantization names the files there are; a missing repository is MODEL_NOT_FOUND", async () => {
  await expect(resolveHubModel("hf:ggml-org/tiny-vl-GGUF:Q2_K")).rejects.toMatchObject({ code: "MODEL_NOT_FOUND", message: expect.stringContaining("tiny-vl-Q4_K_M.gguf") });
  await expect(resolveHubModel("hf:ggml-org/nothing-GGUF:Q8_0")).rejects.toMatchObject({ code: "MODEL_NOT_FOUND" });
});

test("offline, a cache huggingface_hub filled stands in for the listing", async () => {
  populateHfCache(process.env.HF_HUB_CACHE!, { ...repo, files: { "tiny-vl-Q8_0.gguf": repo.files["tiny-vl-Q8_0.gguf"], "mmproj-tiny-vl-f16.gguf": repo.files["mmproj-tiny-vl-f16.gguf"] } });
  process.env.STAGEBEAM_HF_ENDPOINT = "http://127.0.0.1:1"; // nothing listens there
  try {
    const picked = await resolveHubModel("hf:ggml-org/tiny-vl-GGUF:Q8_0", { projector: true });
    expect([picked.modelFile, picked.projectorFile]).toEqual(["tiny-vl-Q8_0.gguf", "mmproj-tiny-vl-f16.gguf"]);
    await expect(resolveHubModel("hf:ggml-org/other-GGUF:Q8_0")).rejects.toMatchObject({ code: "DOWNLOAD_FAILED" });
  } finally {
    process.env.STAGEBEAM_HF_ENDPOINT = hub.url;
  }
});
