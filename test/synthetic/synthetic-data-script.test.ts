// scripts/synthetic-data.mjs end to end: its files, and its held-out rows through `stagebeam eval` on the
// tiny model (the pictures decode, the rows read).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, test } from "vitest";
import { readRowLog } from "../../lib/eval/row-log.js";
import { repoRoot, tinyClip, tinyLlama } from "../fixtures/models.js";

const node = (args: string[]) => spawnSync(process.execPath, args, { encoding: "utf8", cwd: repoRoot, env: { ...process.env, NO_COLOR: "1" }, timeout: 120_000 });
const lines = (path: string) => readFileSync(path, "utf8").trim().split("\n").map((l) => JSON.parse(l));

test("writes training, judge and held-out files from a seed, the same twice; stagebeam eval reads the held-out rows", () => {
  const [a, b] = [mkdtempSync(join(tmpdir(), "synthetic-")), mkdtempSync(join(tmpdir(), "synthetic-"))];
  for (const out of [a, b]) expect(node(["scripts/synthetic-data.mjs", "--seed", "4", "--train", "12", "--heldout", "5", "--out", out]).status).toBe(0);
  for (const f of ["train.jsonl", "judge.jsonl", "heldout.jsonl"]) expect(readFileSync(join(a, f))).toEqual(readFileSync(join(b, f)));
  expect(lines(join(a, "train.jsonl"))).toHaveLength(12);
  expect(lines(join(a, "judge.jsonl"))).toHaveLength(72);
  expect(lines(join(a, "train.jsonl"))[0].target).toMatch(/^<SUMMARY> .+ <\/SUMMARY>\n\n<CAPTION> /);
  expect(node(["scripts/synthetic-data.mjs", "--train", "x"]).status).toBe(2);

  const out = join(a, "eval");
  const r = node([join("dist", "cli", "main.js"), "eval", "-m", tinyLlama(), "--projector", tinyClip(), "--threads", "1", "--data", join(a, "heldout.jsonl"), "--strategies", "single", "--limit", "2", "--force-structure", "grammar", "--max-stage-tokens", "4", "--out", out]);
  expect(r.status).toBe(0);
  const rows = readRowLog(join(out, "single.jsonl")).rows;
  expect(rows).toHaveLength(2);
  for (const row of rows) {
    expect(row.error).toBeNull();
    expect(row.counts.imageEncodes).toBe(1);
  }
});
