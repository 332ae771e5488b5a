// `stagebeam convert` end to end through a child process (the built CLI, as test/cli does), on the
// synthetic checkpoint.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, expect, test } from "vitest";
import { readGgufMetadata } from "../../lib/gguf/reader.js";
import { fixturesDir, repoRoot } from "../fixtures/models.js";
import { writeSyntheticMllama } from "./synthetic-checkpoint.js";

// npm test builds dist first; STAGEBEAM_TEST_CLI points at another build.
const cli = process.env.STAGEBEAM_TEST_CLI ?? join(repoRoot, "dist", "cli", "main.js");
const root = join(fixturesDir, "mllama-convert-cli");
const hf = join(root, "Tiny-Vision");
const run = (args: string[], cwd = root) => spawnSync(process.execPath, [cli, ...args], { cwd, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" }, timeout: 120_000 });

beforeAll(() => {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(root, { recursive: true });
  writeSyntheticMllama(hf);
});

test("converts with default names, printing the two paths and nothing on stderr (not a TTY)", () => {
  const r = run(["convert", hf, "--type", "q8_0"]);
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  const model = join(root, "Tiny-Vision-Q8_0.gguf");
  const projector = join(root, "mmproj-Tiny-Vision-Q8_0.gguf");
  expect(r.stdout).toBe(`${model}\n${projector}\n`);
  expect(readGgufMetadata(model).kv.get("general.file_type")!.value).toBe(7);
  expect(readGgufMetadata(projector).kv.get("general.type")!.value).toBe("projector");
});

test("--out and --projector-out name the files", () => {
  const out = join(root, "sub");
  mkdirSync(out, { recursive: true });
  const r = run(["convert", hf, "--out", join(out, "m.gguf"), "--projector-out", join(out, "p.gguf"), "--type", "f32"]);
  expect(r.status).toBe(0);
  expect(existsSync(join(out, "m.gguf")) && existsSync(join(out, "p.gguf"))).toBe(true);
});

test.each([
  [["convert", "x", "--type", "q4_0"]],
  [["convert"]],
  [["convert", "x", "--out", "a.gguf", "--projector-out", "a.gguf"]],
])("usage errors exit 2: %j", (args) => {
  const r = run(args);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/error|same file/i);
});

test("a folder without config.json is a one-line runtime error (exit 1) and writes nothing", () => {
  const empty = join(root, "empty");
  mkdirSync(empty, { recursive: true });
  const r = run(["convert", empty], empty);
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/^stagebeam: error \[INVALID_CHECKPOINT\]: .*has no config\.json.*\n$/);
  expect(existsSync(join(empty, "empty-F16.gguf"))).toBe(false);
});
