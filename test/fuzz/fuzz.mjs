// The fuzz run: cases of every class, run in worker processes, summarised as a results table.
import { classes } from "./classes.mjs";
import { ensureBaseFiles } from "./base-files.mjs";
import { isFailure, runCases } from "./pool.mjs";

export const CLASS_NAMES = Object.keys(classes);

export function reproCommand({ cls, seed, index }) {
  return `node test/fuzz/run.mjs --seed ${seed} --class ${cls} --case ${index}`;
}

/**
 * Runs `perClass` cases of each class (interleaved, so a slow class does not run alone at the end) and
 * returns { seed, perClass, classes: { [cls]: { cases, ok, typed: { code: n }, untyped, crashes, hangs, seconds } }, failures, seconds }.
 */
export async function runFuzz({ seed = 1, perClass = 2000, only = CLASS_NAMES, workers = 2, timeoutMs = 20000, first = 0, onResult = () => {} } = {}) {
  ensureBaseFiles();
  const cases = [];
  // perClass: one count for every class, or { [cls]: count } (the smoke run takes fewer of the slow CLI cases).
  const count = (cls) => (typeof perClass === "number" ? perClass : (perClass[cls] ?? 0));
  const most = Math.max(...only.map(count));
  for (let i = first; i < first + most; i++) for (const cls of only) if (i < first + count(cls)) cases.push({ cls, seed, index: i });
  const started = performance.now();
  const byClass = Object.fromEntries(only.map((cls) => [cls, { cases: 0, ok: 0, typed: {}, untyped: 0, violations: 0, crashes: 0, hangs: 0, seconds: 0 }]));
  const failures = [];
  await runCases(cases, {
    workers,
    timeoutMs,
    onResult: (r) => {
      const row = byClass[r.cls];
      row.cases++;
      row.seconds += r.ms / 1000;
      const o = r.outcome;
      if (o.status === "ok") row.ok++;
      else if (o.status === "typed") row.typed[o.code] = (row.typed[o.code] ?? 0) + 1;
      else if (o.status === "crash") row.crashes++;
      else if (o.status === "hang") row.hangs++;
      else if (o.status === "violation") row.violations++;
      else row.untyped++;
      if (isFailure(o)) failures.push({ cls: r.cls, seed: r.seed, index: r.index, outcome: { status: o.status, code: o.code, message: o.message }, repro: reproCommand(r) });
      onResult(r);
    },
  });
  for (const row of Object.values(byClass)) row.seconds = Math.round(row.seconds * 10) / 10;
  failures.sort((a, b) => a.cls.localeCompare(b.cls) || a.index - b.index);
  return { seed, perClass, first, workers, timeoutMs, classes: byClass, failures, seconds: Math.round((performance.now() - started) / 100) / 10 };
}

export function markdownReport(summary, { command, date }) {
  const lines = [
    "# Fuzz results",
    "",
    `${date}, \`${command}\`: seed ${summary.seed}, ${summary.perClass} cases per class, ${summary.workers} worker processes, ${summary.timeoutMs / 1000} s limit per case; ${summary.seconds} s in all.`,
    "A case passes when it ends in success or a typed StagebeamError (for the CLI: exit 0, exit 2 for a usage error, or exit 1 with one `stagebeam: error [CODE]` line).",
    "",
    "| class | cases | success | typed errors | untyped | broken invariants | crashes | hangs | case time (s) |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const [cls, row] of Object.entries(summary.classes)) {
    const typed = Object.values(row.typed).reduce((a, b) => a + b, 0);
    lines.push(`| ${cls} | ${row.cases} | ${row.ok} | ${typed} | ${row.untyped} | ${row.violations} | ${row.crashes} | ${row.hangs} | ${row.seconds} |`);
  }
  lines.push("", "## Typed outcomes by error code", "", "| class | code | cases |", "|---|---|---:|");
  for (const [cls, row] of Object.entries(summary.classes)) {
    for (const [code, n] of Object.entries(row.typed).sort((a, b) => b[1] - a[1])) lines.push(`| ${cls} | ${code} | ${n} |`);
  }
  lines.push("", `## Failures (${summary.failures.length})`, "");
  if (summary.failures.length === 0) lines.push("None.");
  for (const f of summary.failures.slice(0, 200)) lines.push(`- ${f.cls} #${f.index}: ${f.outcome.status} ${f.outcome.code}: ${String(f.outcome.message).replace(/\|/g, "\\|").slice(0, 200)} — \`${f.repro}\``);
  if (summary.failures.length > 200) lines.push(`- … and ${summary.failures.length - 200} more (see the JSON)`);
  return `${lines.join("\n")}\n`;
}
