// The CLI end to end, through a child process, on the tiny fixtures.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import { encodePng, rgbPattern } from "../fixtures/images.js";
import { fixturesDir, repoRoot, tinyClip, tinyLlama } from "../fixtures/models.js";
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
