// `stagebeam ls`'s listing over fake Hugging Face, LM Studio and Ollama stores built here, and a header-only
// read of a sparse file of several GB.
import { mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { gguf, writeGguf } from "../../lib/gguf/writer.js";
import { listLocalModels } from "../../lib/hub/local-models.js";
import { populateHfCache } from "./fake-hf-cache.js";
import { commitFor, sha256 } from "./hub-server.js";

const work = mkdtempSync(join(tmpdir(), "stagebeam-ls-"));
const saved = { ...process.env };

/** A small GGUF: the keys `ls` reads and one tensor. */
function ggufBytes(architecture: string, fileType: number | null, extra: [string, ReturnType<typeof gguf.str>][] = []): Buffer {
  const path = join(work, `${architecture}-${fileType}-${Math.random()}.gguf`);
  const kv = new Map([["general.architecture", gguf.str(architecture)], ...(fileType === null ? [] : ([["general.file_type", gguf.u32(fileType)]] as const)), ...extra]);
  writeGguf(path, kv, [{ name: "w", dims: [32, 2], data: new Float32Array(64) }]);
  return readFileSync(path);
}

const q4 = ggufBytes("qwen2vl", 15);
const q8 = ggufBytes("qwen2vl", 7);
const projF16 = ggufBytes("clip", 1);
const projQ8 = ggufBytes("clip", 7);
const gemma = ggufBytes("gemma3", 32);
const untyped = ggufBytes("llama", null);
const hf = { owner: "ggml-org", repo: "tiny-vl-GGUF", commit: commitFor("new"), files: { "tiny-vl-Q4_K_M.gguf": q4, "tiny-vl-Q8_0.gguf": q8, "mmproj-tiny-vl-f16.gguf": projF16, "mmproj-tiny-vl-Q8_0.gguf": projQ8, "README.md": Buffer.from("hi") } };
const old = { ...hf, commit: commitFor("old"), files: { "tiny-vl-Q8_0.gguf": q8, "tiny-vl-F32.gguf": untyped } };

function write(path: string, data: Buffer | string): string {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, data);
  return path;
}

beforeAll(() => {
  const hubCache = join(work, "hf", "hub");
  populateHfCache(hubCache, old, { revision: "v0" });
  populateHfCache(hubCache, hf);
  mkdirSync(join(hubCache, "datasets--o--d", "snapshots"), { recursive: true });

  const lms = join(work, "lmstudio");
  write(join(lms, "lmstudio-community", "gemma-3-4b-it-GGUF", "gemma-3-4b-it-BF16.gguf"), gemma);
  write(join(lms, "lmstudio-community", "gemma-3-4b-it-GGUF", "mmproj-model-f16.gguf"), projF16);
  write(join(lms, "someone", "text-GGUF", "text.gguf"), untyped);
  write(join(lms, "someone", "text-GGUF", "broken.gguf"), "not a gguf");

  const ollama = join(work, "ollama");
  const blob = (data: Buffer) => {
    const digest = `sha256:${sha256(data)}`;
    write(join(ollama, "blobs", digest.replace(":", "-")), data);
    return digest;
  };
  const manifest = (name: string[], layers: [string, string][]) =>
    write(join(ollama, "manifests", ...name), JSON.stringify({ schemaVersion: 2, layers: layers.map(([mediaType, digest]) => ({ mediaType, digest, size: 1 })) }));
  manifest(["registry.ollama.ai", "library", "llava", "latest"], [["application/vnd.ollama.image.model", blob(q4)], ["application/vnd.ollama.image.projector", blob(projF16)], ["application/vnd.ollama.image.template", blob(Buffer.from("{{ .Prompt }}"))]]);
  manifest(["registry.ollama.ai", "someone", "text", "q8"], [["application/vnd.ollama.image.model", blob(q8)]]);
  manifest(["hf.co", "ggml-org", "gemma", "Q4_K_M"], [["application/vnd.ollama.image.model", `sha256:${"e".repeat(64)}`]]); // its blob was deleted
  manifest(["registry.ollama.ai", "library", "bad", "latest"], [["application/vnd.ollama.image.model", "sha256:../../../etc/passwd"]]);

  Object.assign(process.env, { HF_HUB_CACHE: hubCache, STAGEBEAM_LMSTUDIO_DIR: lms, STAGEBEAM_OLLAMA_DIR: ollama });
});

afterAll(() => {
  for (const name of ["HF_HUB_CACHE", "STAGEBEAM_LMSTUDIO_DIR", "STAGEBEAM_OLLAMA_DIR"]) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});

test("lists the Hugging Face cache, LM Studio and Ollama, with architecture, quantization, size and projector", () => {
  const models = listLocalModels();
  const byName = new Map(models.map((m) => [m.name, m]));
  const snapshot = join(process.env.HF_HUB_CACHE!, "models--ggml-org--tiny-vl-GGUF", "snapshots");
  expect(models.map((m) => `${m.source} ${m.name}`)).toEqual([
    "huggingface hf:ggml-org/tiny-vl-GGUF/tiny-vl-Q4_K_M.gguf",
    "huggingface hf:ggml-org/tiny-vl-GGUF/tiny-vl-Q8_0.gguf",
    `huggingface hf:ggml-org/tiny-vl-GGUF@v0/tiny-vl-F32.gguf`, // the older snapshot's Q8_0 is the same blob: listed once
    "lmstudio lmstudio-community/gemma-3-4b-it-GGUF/gemma-3-4b-it-BF16.gguf",
    "lmstudio someone/text-GGUF/broken.gguf",
    "lmstudio someone/text-GGUF/text.gguf",
    "ollama hf.co/ggml-org/gemma:Q4_K_M",
    "ollama llava:latest",
    "ollama someone/text:q8",
  ]);
  expect(byName.get("hf:ggml-org/tiny-vl-GGUF/tiny-vl-Q4_K_M.gguf")).toEqual({
    source: "huggingface",
    name: "hf:ggml-org/tiny-vl-GGUF/tiny-vl-Q4_K_M.gguf",
    path: join(snapshot, hf.commit, "tiny-vl-Q4_K_M.gguf"),
    architecture: "qwen2vl",
    quantization: "Q4_K_M",
    sizeBytes: q4.length,
    projector: join(snapshot, hf.commit, "mmproj-tiny-vl-f16.gguf"),
  });
  expect(byName.get("hf:ggml-org/tiny-vl-GGUF/tiny-vl-Q8_0.gguf")!.projector).toBe(join(snapshot, hf.commit, "mmproj-tiny-vl-Q8_0.gguf"));
  expect(byName.get("hf:ggml-org/tiny-vl-GGUF@v0/tiny-vl-F32.gguf")).toMatchObject({ architecture: "llama", quantization: "F32", projector: null });
  expect(byName.get("lmstudio-community/gemma-3-4b-it-GGUF/gemma-3-4b-it-BF16.gguf")).toMatchObject({ architecture: "gemma3", quantization: "BF16", projector: expect.stringMatching(/mmproj-model-f16\.gguf$/) });
  expect(byName.get("someone/text-GGUF/text.gguf")).toMatchObject({ projector: null });
  expect(byName.get("someone/text-GGUF/broken.gguf")!.error).toMatch(/not a GGUF/);
  expect(byName.get("llava:latest")).toMatchObject({ architecture: "qwen2vl", quantization: "Q4_K_M", projector: join(process.env.STAGEBEAM_OLLAMA_DIR!, "blobs", `sha256-${sha256(projF16)}`) });
  expect(byName.get("someone/text:q8")).toMatchObject({ quantization: "Q8_0", projector: null });
  expect(byName.get("hf.co/ggml-org/gemma:Q4_K_M")!.error).toBeDefined();
});

test("stores that are not there list nothing", () => {
  const none = join(work, "nothing-here");
  const env = { HF_HUB_CACHE: process.env.HF_HUB_CACHE, STAGEBEAM_LMSTUDIO_DIR: process.env.STAGEBEAM_LMSTUDIO_DIR, STAGEBEAM_OLLAMA_DIR: process.env.STAGEBEAM_OLLAMA_DIR };
  Object.assign(process.env, { HF_HUB_CACHE: none, STAGEBEAM_LMSTUDIO_DIR: none, STAGEBEAM_OLLAMA_DIR: none });
  try {
    expect(listLocalModels()).toEqual([]);
  } finally {
    Object.assign(process.env, env);
  }
});

test("an 8 GB model is described from its header: quickly, in little memory", () => {
  const dir = join(work, "sparse");
  const path = write(join(dir, "big", "model-GGUF", "big-Q8_0.gguf"), q8);
  truncateSync(path, 8 * 2 ** 30); // sparse: the weights are a hole, the header is real
  const env = process.env.STAGEBEAM_LMSTUDIO_DIR;
  process.env.STAGEBEAM_LMSTUDIO_DIR = dir;
  try {
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const models = listLocalModels().filter((m) => m.source === "lmstudio");
    const ms = performance.now() - started;
    expect(models).toEqual([expect.objectContaining({ name: "big/model-GGUF/big-Q8_0.gguf", architecture: "qwen2vl", quantization: "Q8_0", sizeBytes: 8 * 2 ** 30 })]);
    expect(ms).toBeLessThan(2000);
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 2 ** 20);
  } finally {
    process.env.STAGEBEAM_LMSTUDIO_DIR = env;
  }
});
