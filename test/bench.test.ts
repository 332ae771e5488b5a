// The benchmark harness in smoke mode (tiny model, one repetition): it must run end to end and write
// its results, so it cannot rot between full runs.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { repoRoot } from "./fixtures/models.js";

test("npm run bench -- --smoke measures ours and llama.cpp's tools and writes the results", () => {
  execFileSync(process.execPath, [join(repoRoot, "bench", "run.mjs"), "--smoke"], { cwd: repoRoot, stdio: "pipe", timeout: 120_000 });
  const result = JSON.parse(readFileSync(join(repoRoot, "bench", "results", "smoke.json"), "utf8"));
  expect(result.smoke).toBe(true);
  expect(result.machine.llamaCpp).toContain("80fb11ac73e6");
  const measured = result.rows.filter((r: { ours: unknown }) => r.ours !== null);
  expect(measured.map((r: { name: string }) => r.name.split(",")[0].split(":")[0])).toEqual([
    "image encode + decode",
    "Q8_0 prompt processing",
    "Q8_0 decode",
    "Q8_0 branching",
  ]);
  for (const r of measured) {
    expect(r.ours.median).toBeGreaterThan(0);
    // llama-bench / llama-batched-bench / llama-mtmd-cli ran (mtmd-cli reports whole milliseconds, which
    // the tiny projector can round to 0)
    expect(r.peer.median).toBeGreaterThanOrEqual(0);
    expect(r.ratio).not.toBeNull();
  }
  const md = readFileSync(join(repoRoot, "bench", "results", "smoke.md"), "utf8");
  expect(md).toContain("| row | ours | peer | ratio | target | met | note |");
  expect(md).toContain("not run"); // rows not implemented yet say so
}, 180_000);
