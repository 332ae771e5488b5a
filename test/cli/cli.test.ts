// The CLI end to end, through a child process, on the tiny fixtures.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { fixturesDir, repoRoot, tinyClip, tinyLlama } from "../fixtures/models.js";
import { commitFor, startFakeHub, type FakeHub } from "../hub/hub-server.js";
import { writeFileSync } from "node:fs";

const cli = join(repoRoot, "dist", "cli", "main.js");
const env = { ...process.env, STAGEBEAM_CACHE: mkdtempSync(join(tmpdir(), "stagebeam-cli-")), NO_COLOR: "1" };
let image: string;
const stagebeam = (args: string[], input?: string) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env, input, timeout: 120_000 });
const model = () => ["-m", tinyLlama(), "--projector", tinyClip(), "--image", image, "--force-structure", "grammar", "--max-stage-tokens", "8", "--judge", "logprob", "--threads", "1"];

beforeAll(() => {
  image = join(fixturesDir, "cli.png");
  writeFileSync(image, encodePng(56, 56, rgbPattern(56, 56, 9)));
});

describe("run", () => {
  test("prints the conclusion on stdout", () => {
    const r = stagebeam(["run", ...model(), "What is in the image?"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().length).toBeGreaterThan(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(1);
  });

  test("--json prints the whole result", () => {
    const r = stagebeam(["run", ...model(), "--json", "What is in the image?"]);
    expect(r.status).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(Object.keys(result).sort()).toEqual(["conclusion", "counts", "problems", "stages", "strategy", "text", "timings", "tree"]);
    expect(Object.keys(result.stages)).toEqual(["SUMMARY", "CAPTION", "REASONING", "CONCLUSION"]);
    expect(result.counts.imageEncodes).toBe(1);
    expect(result.tree.candidates.length).toBeGreaterThanOrEqual(8);
    expect(typeof result.timings.totalMs).toBe("number");
  });

  test("--show-reasoning labels every stage", () => {
    const r = stagebeam(["run", ...model(), "--show-reasoning", "What is in the image?"]);
    expect(r.status).toBe(0);
    for (const stage of ["SUMMARY:", "CAPTION:", "REASONING:", "CONCLUSION:"]) expect(r.stdout).toContain(stage);
  });

  test("a model whose file has no chat template: exit 1 naming --chat-template; a name or a file makes it run", () => {
    const bare = ["-m", tinyLlama("tiny-llama-no-template", { chatTemplate: null }), "--force-structure", "prefill", "--max-stage-tokens", "2", "--strategy", "single", "--threads", "1"];
    const missing = stagebeam(["run", ...bare, "Why?"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("--chat-template NAME|FILE");
    expect(missing.stderr).toContain("chatml");
    expect(stagebeam(["run", ...bare, "--chat-template", "chatml", "Why?"]).status).toBe(0);
    const file = join(fixturesDir, "cli-template.jinja");
    writeFileSync(file, "{% for m in messages %}<<{{ m.role }}>> {{ m.content }}\n{% endfor %}<<assistant>> ");
    const fromFile = stagebeam(["run", ...bare, "--chat-template", file, "--json", "Why?"]);
    expect(fromFile.status).toBe(0);
    const unknown = stagebeam(["run", ...bare, "--chat-template", "no-such-template", "Why?"]);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain("neither a file nor a template name");
  });

  test("reads the question from stdin when it is not given", () => {
    const a = stagebeam(["run", ...model(), "--seed", "3"], "What is in the image?\n");
    const b = stagebeam(["run", ...model(), "--seed", "3", "What is in the image?"]);
    expect(a.status).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  test.each([
    [["run", "--width", "0", "-m", "x.gguf", "q"]],
    [["run", "--strategy", "fastest", "-m", "x.gguf", "q"]],
    [["run", "q"]],
    [["run", "-m", "x.gguf", "--image", "a.png", "q"]],
    [["run", "--no-such-option", "-m", "x.gguf", "q"]],
    [["frobnicate"]],
  ])("usage error %j exits 2", (args) => {
    const r = stagebeam(args, "");
    expect(r.status).toBe(2);
    expect(r.stderr.length).toBeGreaterThan(0);
  });

  test("a runtime error exits 1 with one line naming the problem", () => {
    const r = stagebeam(["run", "-m", join(fixturesDir, "missing.gguf"), "q"]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("MODEL_NOT_FOUND");
    const verbose = stagebeam(["--verbose", "run", "-m", join(fixturesDir, "missing.gguf"), "q"]);
    expect(verbose.stderr.split("\n").length).toBeGreaterThan(2); // the stack
  });

  test("SIGINT mid-search exits cleanly", async () => {
    const child = spawn(process.execPath, [cli, "run", ...model(), "--strategy", "retrace", "--max-stage-tokens", "64", "q?"], { env });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    await new Promise((r) => setTimeout(r, 1500));
    child.kill("SIGINT");
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on("exit", (c, s) => resolve([c, s])));
    expect(signal).toBeNull(); // not killed by a signal: it handled the interrupt
    expect(code).toBe(130);
    expect(stderr).toContain("interrupted");
  }, 60_000);
});

test("info describes the model and checks the projector", () => {
  const r = stagebeam(["info", tinyLlama(), "--projector", tinyClip()]);
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(/architecture\s+llama/);
  expect(r.stdout).toMatch(/chat template\s+llama2/);
  expect(r.stdout).toMatch(/projector\s+fits \(vision: yes/);
  const mismatch = stagebeam(["info", tinyLlama(), "--projector", tinyClip("tiny-clip-32", { textEmbeddingSize: 32 }), "--json"]);
  expect(JSON.parse(mismatch.stdout).projector.fits).toBe(false);
});

test("demo runs the whole pipeline on a tiny random-weight model", () => {
  const r = stagebeam(["demo"]);
  expect(r.status).toBe(0);
  expect(r.stderr).toContain("RANDOM WEIGHTS");
  expect(r.stderr).toMatch(/image encodes: 1/);
  expect(r.stdout).toMatch(/^SUMMARY: .+\nCAPTION: .+\nREASONING: .+\nCONCLUSION: .+\n$/);
});

test("--help shows examples", () => {
  for (const args of [["--help"], ["run", "--help"], ["pull", "--help"]]) {
    const r = stagebeam(args);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("Example");
  }
});

// hf: references against the local stand-in for the Hub (in this process, so the CLI runs asynchronously),
// into a Hugging Face cache of its own; and `ls` over it.
describe("hf: references and ls", () => {
  let hub: FakeHub;
  let hfEnv: NodeJS.ProcessEnv;
  const commit = commitFor("test/tiny-vl-GGUF");
  const run = (args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [cli, ...args], { env: hfEnv });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.on("exit", (status) => {
        clearTimeout(timer);
        resolve({ status, stdout, stderr });
      });
    });
  const search = ["--force-structure", "grammar", "--max-stage-tokens", "8", "--judge", "logprob", "--threads", "1", "--strategy", "single"];

  beforeAll(async () => {
    hub = await startFakeHub([
      {
        owner: "test",
        repo: "tiny-vl-GGUF",
        commit,
        files: {
          "tiny-vl-Q4_K_M.gguf": readFileSync(tinyLlama()),
          "tiny-vl-Q8_0.gguf": readFileSync(tinyLlama("tiny-llama-no-template", { chatTemplate: null })),
          "mmproj-tiny-vl-f16.gguf": readFileSync(tinyClip()),
        },
      },
      { owner: "test", repo: "text-GGUF", commit: commitFor("test/text-GGUF"), files: { "text-F32.gguf": readFileSync(tinyLlama()) } },
    ]);
    const home = mkdtempSync(join(tmpdir(), "stagebeam-cli-hf-"));
    hfEnv = { ...env, HF_HOME: home, HF_HUB_CACHE: join(home, "hub"), STAGEBEAM_HF_ENDPOINT: hub.url, STAGEBEAM_LMSTUDIO_DIR: join(home, "none"), STAGEBEAM_OLLAMA_DIR: join(home, "none") };
    delete hfEnv.HF_TOKEN;
  });

  afterAll(() => hub?.close());

  test("run -m hf:OWNER/REPO --image takes the repository's projector and says which on stderr; the second run asks nothing", async () => {
    const r = await run(["run", "-m", "hf:test/tiny-vl-GGUF", "--image", image, ...search, "--json", "What is in the image?"]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).counts.imageEncodes).toBe(1);
    expect(r.stderr).toContain("hf:test/tiny-vl-GGUF: model tiny-vl-Q4_K_M.gguf");
    expect(r.stderr).toContain("hf:test/tiny-vl-GGUF: projector mmproj-tiny-vl-f16.gguf");
    hub.requests = [];
    const again = await run(["run", "-m", "hf:test/tiny-vl-GGUF", "--image", image, ...search, "--quiet", "What is in the image?"]);
    expect(again.status).toBe(0);
    expect(again.stderr).toBe("");
    expect(hub.requests).toHaveLength(0);
  }, 240_000);

  test("info hf:OWNER/REPO:QUANT checks the repository's projector; an explicit --projector wins", async () => {
    const r = await run(["info", "hf:test/tiny-vl-GGUF:q8_0", "--json"]);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.file).toBe(join(hfEnv.HF_HUB_CACHE!, "models--test--tiny-vl-GGUF", "snapshots", commit, "tiny-vl-Q8_0.gguf"));
    expect(info.projector).toMatchObject({ fits: true, file: join(hfEnv.HF_HUB_CACHE!, "models--test--tiny-vl-GGUF", "snapshots", commit, "mmproj-tiny-vl-f16.gguf") });
    expect(r.stderr).toContain("projector mmproj-tiny-vl-f16.gguf");
    const other = tinyClip("tiny-clip-32", { textEmbeddingSize: 32 });
    const explicit = await run(["info", "hf:test/tiny-vl-GGUF:Q8_0", "--projector", other, "--json"]);
    expect(JSON.parse(explicit.stdout).projector).toMatchObject({ fits: false, file: other });
    expect(explicit.stderr).not.toContain("mmproj-tiny-vl");
  }, 120_000);

  test("a repository without that quantization exits 1 naming its files; an image with no projector anywhere is NO_PROJECTOR", async () => {
    const missing = await run(["info", "hf:test/tiny-vl-GGUF:Q2_K"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain("MODEL_NOT_FOUND");
    expect(missing.stderr).toContain("tiny-vl-Q8_0.gguf");
    const noProjector = await run(["run", "-m", "hf:test/text-GGUF", "--image", image, ...search, "q"]);
    expect(noProjector.status).toBe(1);
    expect(noProjector.stderr).toContain("NO_PROJECTOR");
    expect(noProjector.stderr).toContain("--projector");
  }, 60_000);

  test("pull prints the model's path, then its projector's", async () => {
    const r = await run(["pull", "hf:test/tiny-vl-GGUF:Q8_0", "--quiet"]);
    expect(r.status).toBe(0);
    const snapshot = join(hfEnv.HF_HUB_CACHE!, "models--test--tiny-vl-GGUF", "snapshots", commit);
    expect(r.stdout).toBe(`${join(snapshot, "tiny-vl-Q8_0.gguf")}\n${join(snapshot, "mmproj-tiny-vl-f16.gguf")}\n`);
  }, 60_000);

  test("ls lists the cache's models with architecture, quantization and projector; --json with paths", async () => {
    await run(["pull", "hf:test/tiny-vl-GGUF:Q4_K_M", "--quiet"]);
    const r = await run(["ls"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+ARCHITECTURE\s+QUANT\s+SIZE\s+PROJECTOR\s+SOURCE\n/);
    expect(r.stdout).toMatch(/hf:test\/tiny-vl-GGUF\/tiny-vl-Q4_K_M\.gguf\s+llama\s+F32\s+[\d.]+ [KM]iB\s+yes\s+huggingface/);
    const listed = JSON.parse((await run(["ls", "--json"])).stdout);
    const names = listed.map((m: { name: string }) => m.name);
    expect(names.filter((n: string) => n.startsWith("hf:test/tiny-vl-GGUF/"))).toEqual(["hf:test/tiny-vl-GGUF/tiny-vl-Q4_K_M.gguf", "hf:test/tiny-vl-GGUF/tiny-vl-Q8_0.gguf"]);
    expect(listed[names.indexOf("hf:test/tiny-vl-GGUF/tiny-vl-Q4_K_M.gguf")]).toMatchObject({ source: "huggingface", architecture: "llama", projector: expect.stringMatching(/mmproj-tiny-vl-f16\.gguf$/) });
  }, 60_000);
});
