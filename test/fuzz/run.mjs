#!/usr/bin/env node
// `npm run fuzz`: the full fuzz run (2,000 cases per class by default), its table written to
// bench/results/fuzz.md and .json. One case again: --seed S --class C --case I (prints the case and its
// outcome). Exit code 1 when any case failed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "./base-files.mjs";
import { classes } from "./classes.mjs";
import { CLASS_NAMES, markdownReport, runFuzz } from "./fuzz.mjs";
import { caseRandom } from "./random.mjs";

const { values } = parseArgs({
  options: {
    seed: { type: "string", default: "1" },
    cases: { type: "string", default: "2000" },
    class: { type: "string" },
    case: { type: "string" },
    workers: { type: "string", default: "2" },
    timeout: { type: "string", default: "20000" },
    out: { type: "string" },
    // Runs again the failed cases listed in a results JSON (after a fix), and writes nothing.
    failures: { type: "string" },
  },
});
const seed = Number(values.seed);
const only = values.class ? values.class.split(",") : CLASS_NAMES;
for (const cls of only) if (!classes[cls]) throw new Error(`no fuzz class "${cls}": ${CLASS_NAMES.join(", ")}`);

if (values.failures) {
  const { readFileSync } = await import("node:fs");
  const { runCases, isFailure } = await import("./pool.mjs");
  const { ensureBaseFiles } = await import("./base-files.mjs");
  ensureBaseFiles();
  const listed = JSON.parse(readFileSync(values.failures, "utf8")).failures.map((f) => ({ cls: f.cls, seed: f.seed, index: f.index }));
  const results = await runCases(listed, { workers: Number(values.workers), timeoutMs: Number(values.timeout) });
  const still = results.filter((r) => isFailure(r.outcome));
  for (const r of results) console.log(`${r.cls} #${r.index}: ${r.outcome.status} ${r.outcome.code ?? ""} ${isFailure(r.outcome) ? r.outcome.message ?? "" : ""}`.slice(0, 300));
  console.log(`${listed.length} cases run again: ${listed.length - still.length} pass now, ${still.length} still fail`);
  process.exit(still.length > 0 ? 1 : 0);
}
if (values.case !== undefined) {
  const index = Number(values.case);
  for (const cls of only) console.log(`${cls} #${index}:`, JSON.stringify(classes[cls].makeCase(caseRandom(seed, cls, index))));
}
const single = values.case !== undefined;
const perClass = single ? 1 : Number(values.cases);
let done = 0;
const total = perClass * only.length;
const summary = await runFuzz({
  seed,
  perClass,
  first: single ? Number(values.case) : 0,
  only,
  workers: single ? 1 : Number(values.workers),
  timeoutMs: Number(values.timeout),
  onResult: (r) => {
    done++;
    if (single) console.log("outcome:", JSON.stringify(r.outcome, null, 2));
    else if (done % 250 === 0 || done === total) process.stderr.write(`${done}/${total} cases\n`);
  },
});

if (!single) {
  const out = values.out ?? join(repoRoot, "bench", "results", "fuzz");
  const command = `npm run fuzz -- --seed ${seed} --cases ${perClass}${values.class ? ` --class ${values.class}` : ""}`;
  mkdirSync(join(out, ".."), { recursive: true });
  writeFileSync(`${out}.json`, `${JSON.stringify({ date: new Date().toISOString(), command, ...summary }, null, 2)}\n`);
  writeFileSync(`${out}.md`, markdownReport(summary, { command, date: new Date().toISOString().slice(0, 10) }));
  console.log(markdownReport(summary, { command, date: new Date().toISOString().slice(0, 10) }));
}
for (const f of summary.failures.slice(0, 50)) console.error(`FAILED ${f.cls} #${f.index} (${f.outcome.status} ${f.outcome.code}): ${f.outcome.message}\n  repro: ${f.repro}`);
process.exitCode = summary.failures.length > 0 ? 1 : 0;
