#!/usr/bin/env node
// `npm run eval`: `stagebeam eval` of the model `npm run eval:train` made, on its 500 held-out rows:
// single, best-of-n:4, stage-beam:2 and stage-beam:4 with the logprob judge, then the searches again
// with the generate judge, into one output folder (resumable: a stopped run continues where it was).
// The folder's summary (accuracy with 95% intervals, by category, cost, judge vs generator accuracy)
// is copied to bench/results/eval.{md,json,svg}.
// Usage: node scripts/eval-run.mjs [--seed N] [--limit N] [--threads N] [--jobs N]
// --jobs (default: 2 where there are 2 cores) runs the two judges' strategy groups side by side, each as
// its own process on --threads threads: the model is tiny, so two 1-thread processes use 2 cores better
// than one 2-thread process (whose threads spin waiting for each other).
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { availableParallelism } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "0" },
    limit: { type: "string" },
    threads: { type: "string", default: "1" },
    jobs: { type: "string", default: String(Math.min(2, availableParallelism())) },
  },
});
const found = spawnSync(process.execPath, [join(root, "scripts", "eval-train.mjs"), "--seed", values.seed, "--print-dir"], { encoding: "utf8" });
const dir = found.stdout.trim();
if (found.status !== 0 || !existsSync(join(dir, "model.gguf"))) {
  process.stderr.write(`no trained model for seed ${values.seed} (${dir || found.stderr.trim()}): run npm run eval:train first\n`);
  process.exit(2);
}
// --threads 1 by default: ggml's worker threads spin while they wait for each other, and on 2 cores that
// other work shares, 2 threads made a row 15 times slower than 1 (7.7 s against 0.51 s for single).
const out = join(root, "eval", ".runs", basename(dir));
mkdirSync(out, { recursive: true });
// A stage of the trained model is at most ~100 tokens; the budget only bounds a model that rambles.
const common = ["eval", "-m", join(dir, "model.gguf"), "--projector", join(dir, "mmproj.gguf"), "--data", join(dir, "heldout.jsonl"), "--out", out, "--resume", "--max-stage-tokens", "192", "--threads", values.threads, ...(values.limit ? ["--limit", values.limit] : [])];
// The logprob judge first: it is the cheaper (one prefill per pair, no decoding).
const runs = [
  ["--strategies", "single,best-of-n:4,stage-beam:2,stage-beam:4", "--judge", "logprob"],
  ["--strategies", "best-of-n:4,stage-beam:2,stage-beam:4", "--judge", "generate"],
];
const clock = Date.now();
/** The folder's summary (everything done so far) into bench/results. */
function copySummary() {
  if (!existsSync(join(out, "summary.md"))) return;
  const results = join(root, "bench", "results");
  mkdirSync(results, { recursive: true });
  copyFileSync(join(out, "summary.md"), join(results, "eval.md"));
  copyFileSync(join(out, "summary.json"), join(results, "eval.json"));
  copyFileSync(join(out, "accuracy-vs-time.svg"), join(results, "eval.svg"));
}
/** One `stagebeam eval` over a group of strategies; resolves with its exit status. */
function evalGroup(args) {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, "dist", "cli", "main.js"), ...common, ...args], { stdio: "inherit" });
    child.on("exit", (code) => {
      process.stderr.write(`${args.join(" ")}: ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      resolve(code ?? 1);
    });
  });
}
const jobs = Math.max(1, Number(values.jobs));
const statuses = [];
for (let i = 0; i < runs.length; i += jobs) statuses.push(...(await Promise.all(runs.slice(i, i + jobs).map(evalGroup))));
const failed = statuses.find((status) => status !== 0);
if (failed !== undefined) {
  copySummary();
  process.stderr.write(`stagebeam eval stopped (exit ${failed}); the summary so far is in bench/results/eval.*; rerun npm run eval (same options) to resume\n`);
  process.exit(failed);
}
// Groups run side by side each wrote the folder's summary when they ended, the first before the other's
// rows were all in: a last resumed pass (every row done, nothing runs) writes it over the whole folder.
if (jobs > 1) await evalGroup(runs[0]);
copySummary();
process.stderr.write(`eval: ${((Date.now() - clock) / 1000).toFixed(0)} s; results in ${out} and bench/results/eval.{md,json,svg}\n`);
