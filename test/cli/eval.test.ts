// `stagebeam eval` end to end, as a child process on the tiny fixtures: a model loaded by the command,
// the same rows through a real `stagebeam serve` (--url), Ctrl-C and --resume, and usage errors.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readRowLog } from "../../lib/eval/row-log.js";
import type { RowRecord } from "../../lib/eval/row-record.js";
import { repoRoot, tinyClip, tinyLlama } from "../fixtures/models.js";
import { benchmarkRows, writeBenchmark } from "../eval/datasets.js";

const cli = join(repoRoot, "dist", "cli", "main.js");
const env = { ...process.env, NO_COLOR: "1" };
const work = mkdtempSync(join(tmpdir(), "stagebeam-eval-"));
const stagebeam = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: "utf8", env, timeout: 120_000 });
/** Settings that make the random-weight model write every stage, short, and judge cheaply. */
const search = ["--force-structure", "grammar", "--max-stage-tokens", "6", "--judge", "logprob", "--seed", "5"];
const local = () => ["-m", tinyLlama(), "--projector", tinyClip(), "--threads", "1", ...search];
const rowsOf = (dir: string, key: string): RowRecord[] => readRowLog(join(dir, `${key}.jsonl`)).rows;
let data: string;

beforeAll(() => {
  // The eight benchmark rows, and a broken one between them.
  const rows = benchmarkRows();
  data = writeBenchmark(work, "bench.tsv", [...rows.slice(0, 2), { index: "99", question: "no answer here", answer: "" }, ...rows.slice(2)]);
});

describe("stagebeam eval", () => {
  test.each([
    [["--strategies", "single,fastest"], /unknown strategy "fastest"/],
    [["--strategies", "single:3"], /single takes no width/],
    [["--judge", "vote"], /--judge must be one of/],
    [["--limit", "0"], /--limit must be a positive integer/],
  ])("usage error %j exits 2", (args, message) => {
    const r = stagebeam(["eval", "-m", "x.gguf", "--data", "x.tsv", ...args]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  test("needs a model or a server, not both", () => {
    expect(stagebeam(["eval", "--data", "x.tsv"]).stderr).toContain("give -m MODEL");
    const both = stagebeam(["eval", "--data", "x.tsv", "-m", "x.gguf", "--url", "http://127.0.0.1:1"]);
    expect(both.status).toBe(2);
    expect(both.stderr).toContain("not both");
  });

  test("a benchmark with no usable rows is a runtime error naming the file", () => {
    const r = stagebeam(["eval", "-m", "x.gguf", "--data", join(work, "missing.tsv")]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("INVALID_DATA");
  });

  test("runs each strategy over the rows, reports a malformed row and goes on; --resume adds only the rows missing", () => {
    const out = join(work, "local");
    const r = stagebeam(["eval", ...local(), "--data", data, "--strategies", "single,stage-beam:2", "--limit", "2", "--out", out]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain("bench.tsv line 4 (id 99): has no answer — skipped");
    expect(r.stdout).toMatch(/^\| strategy \| judge \| rows \| accuracy % \[95% CI\]/);
    expect(r.stdout).toMatch(/\| single \| – \| 2 \| /);
    expect(r.stdout).toMatch(/\| stage-beam:2 \| logprob \| 2 \| /);
    for (const f of ["single.tsv", "single.summary.json", "stage-beam-2-logprob.summary.md", "summary.md", "accuracy-vs-time.svg"]) expect(existsSync(join(out, f))).toBe(true);
    const beam = rowsOf(out, "stage-beam-2-logprob");
    expect(beam.map((row) => row.id)).toEqual(["0", "1"]);
    for (const row of beam) {
      expect(row.error).toBeNull();
      expect(row.prediction).toBe(row.stages.CONCLUSION);
      expect(row.prediction.length).toBeGreaterThan(0);
      expect(row.stages.REASONING.length).toBeGreaterThan(0);
      // The prefix cache is emptied before each row: every row encodes its image once, whatever ran before.
      expect(row.counts.imageEncodes).toBe(1);
      expect(row.counts.judgeCalls).toBeGreaterThan(0);
      expect(row.scorer).toBe("choice");
      // Two conclusions judged: the judging of the row is read from its tree.
      expect(row.judging!.answers).toBe(2);
    }
    expect(rowsOf(out, "single")[0]!.counts.judgeCalls).toBe(0);

    const again = stagebeam(["eval", ...local(), "--data", data, "--strategies", "single,stage-beam:2", "--limit", "3", "--out", out]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain("pass --resume");
    const resumed = stagebeam(["eval", ...local(), "--data", data, "--strategies", "single,stage-beam:2", "--limit", "3", "--out", out, "--resume"]);
    expect(resumed.status).toBe(0);
    const after = rowsOf(out, "stage-beam-2-logprob");
    expect(after.map((row) => row.id)).toEqual(["0", "1", "2"]);
    expect(after.slice(0, 2)).toEqual(beam);
    expect(after[2]!.scorer).toBe("yes-no");
    expect(JSON.parse(readFileSync(join(out, "stage-beam-2-logprob.summary.json"), "utf8")).accuracy.rows).toBe(3);
  });

  test("Ctrl-C keeps the rows done and exits 130; --resume finishes the run", async () => {
    const out = join(work, "interrupted");
    const args = [cli, "eval", ...local(), "--data", data, "--strategies", "single", "--out", out];
    const child = spawn(process.execPath, args, { env });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    // Interrupt once two rows are on disk.
    while (!/single 2\/8/.test(stderr) && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    const code = await exited;
    expect(stderr).toContain("interrupted");
    expect(code).toBe(130);
    const kept = rowsOf(out, "single").length;
    expect(kept).toBeGreaterThanOrEqual(2);
    expect(kept).toBeLessThan(8);
    const resumed = stagebeam(["eval", ...local(), "--data", data, "--strategies", "single", "--out", out, "--resume"]);
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain(`single: resuming after ${kept} of 8 rows`);
    expect(rowsOf(out, "single").map((r) => r.id)).toEqual(["0", "1", "2", "3", "4", "5", "6", "7"]);
  }, 120_000);
});

describe("stagebeam eval --url", () => {
  let server: ChildProcess;
  let url: string;

  beforeAll(async () => {
    server = spawn(process.execPath, [cli, "serve", "-m", tinyLlama(), "--projector", tinyClip(), "--port", "0", "--threads", "1"], { env, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    url = await new Promise<string>((resolve, reject) => {
      server.stderr!.on("data", (d: Buffer) => {
        stderr += d.toString();
        const found = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
        if (found) resolve(found);
      });
      server.once("exit", (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
    });
  });

  afterAll(() => {
    server?.kill("SIGTERM");
  });

  test("measures the same rows through a running server: the answers a local run gives, stages from reasoning_content, the server's token usage", () => {
    const out = join(work, "remote");
    const r = stagebeam(["eval", "--url", url, ...search, "--data", data, "--strategies", "stage-beam:2", "--limit", "2", "--out", out]);
    expect(r.stderr).not.toContain("error");
    expect(r.status).toBe(0);
    const rows = rowsOf(out, "stage-beam-2-logprob");
    // The same model, seed and settings here: the same searches, so the same answers and stages.
    const here = join(work, "remote-local");
    expect(stagebeam(["eval", ...local(), "--data", data, "--strategies", "stage-beam:2", "--limit", "2", "--out", here]).status).toBe(0);
    expect(rows.map((row) => row.stages)).toEqual(rowsOf(here, "stage-beam-2-logprob").map((row) => row.stages));
    expect(rows.map((row) => row.id)).toEqual(["0", "1"]);
    for (const row of rows) {
      expect(row.run.url).toBe(url);
      expect(row.error).toBeNull();
      for (const stage of ["SUMMARY", "CAPTION", "REASONING", "CONCLUSION"] as const) expect(row.stages[stage].length).toBeGreaterThan(0);
      expect(row.counts.generatedTokens).toBeGreaterThan(0);
      expect(row.counts.judgeCalls).toBeNull();
      expect(row.judging).toBeNull();
    }
    expect(r.stdout).toMatch(/\| stage-beam:2 \| logprob \| 2 \| .* \| – \| – \| 0 \|/);
  });

  test("a server that cannot be reached stops the run: exit 1, nothing recorded as answered", () => {
    const out = join(work, "unreachable");
    const r = stagebeam(["eval", "--url", "http://127.0.0.1:9", "--data", data, "--strategies", "single", "--limit", "2", "--out", out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("REMOTE_FAILED");
    expect(rowsOf(out, "single")).toEqual([]);
  });
});
