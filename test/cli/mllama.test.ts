// The CLI on an mllama pair (the tiny TypeScript-made one): info names the engine and checks the pair,
// run answers a text-only question, and a projector file given as the model is a one-line error.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { repoRoot, tinyClip, tinyMllama } from "../fixtures/models.js";

const cli = join(repoRoot, "dist", "cli", "main.js");
const env = { ...process.env, STAGEBEAM_CACHE: mkdtempSync(join(tmpdir(), "stagebeam-cli-")), NO_COLOR: "1" };
const stagebeam = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env, timeout: 120_000 });

test("info: architecture, engine and the text-only state of an mllama model", () => {
  const r = stagebeam(["info", "--json", tinyMllama().model]);
  expect(r.status).toBe(0);
  const info = JSON.parse(r.stdout);
  expect(info).toMatchObject({ architecture: "mllama", engine: "mllama", layers: 5, vocabularySize: 128257 });
});

test("info --projector checks the pair: the model's own projector fits, another model's does not", () => {
  const { model, projector } = tinyMllama();
  const own = JSON.parse(stagebeam(["info", "--json", model, "--projector", projector]).stdout);
  expect(own.projector).toMatchObject({ fits: true, vision: true, marker: "<|image|>", imageTokens: { tokens: 1, positions: 1 } });
  const other = JSON.parse(stagebeam(["info", "--json", model, "--projector", tinyClip()]).stdout);
  expect(other.projector).toMatchObject({ fits: false });
});

test("run answers a text-only question with stage-beam search on the mllama engine", () => {
  const r = stagebeam(["run", "-m", tinyMllama().model, "--force-structure", "grammar", "--max-stage-tokens", "8", "--judge", "logprob", "--threads", "1", "--seed", "2", "--json", "Which is larger, 7 or 12?"]);
  expect(r.status, r.stderr).toBe(0);
  const result = JSON.parse(r.stdout);
  expect(result.strategy).toBe("stage-beam");
  expect(result.counts.imageEncodes).toBe(0);
  expect(result.conclusion.length).toBeGreaterThan(0);
});

test("a projector file given as the model is a one-line error", () => {
  const r = stagebeam(["info", tinyMllama().projector]);
  expect(r.status).toBe(1);
  expect(r.stderr.trim().split("\n")).toHaveLength(1);
  expect(r.stderr).toMatch(/INVALID_ARGUMENT.*vision projector, not the text model/);
});

test("demo --mllama runs a stage-beam search with an image on a tiny mllama pair", () => {
  const r = stagebeam(["demo", "--mllama", "--quiet"]);
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^SUMMARY: .*\nCAPTION: .*\nREASONING: .*\nCONCLUSION: .*\n$/s);
  expect(r.stderr).toMatch(/image encodes: 1,/);
});
