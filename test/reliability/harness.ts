// What the reliability tests share: their size (smoke in `npm test`, full under `npm run soak`), aborts
// fired at seeded random moments with the latency and the decode steps after them recorded, the
// process's footprint (RSS, open files, native handles), and the results file the full run writes.
import { readdirSync, readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { nativeHandleCounts, type NativeHandleCounts } from "../../lib/index.js";
import { seededRandom } from "../../lib/seeded-random.js";
import { repoRoot } from "../fixtures/models.js";

/** `npm run soak` sets this: the sizes issue 12 asks for, and a results file. */
export const FULL = process.env.STAGEBEAM_RELIABILITY === "full";

export const size = (smoke: number, full: number) => (FULL ? full : smoke);

/** The garbage collector, exposed at run time (vitest's workers start without --expose-gc). */
export const collectGarbage: () => void = (() => {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
})();

export interface Footprint {
  rss: number;
  fds: number;
  handles: NativeHandleCounts;
}

/** RSS, open file descriptors and live native handles, after a full collection. */
export async function footprint(): Promise<Footprint> {
  collectGarbage();
  await new Promise((resolve) => setImmediate(resolve));
  collectGarbage();
  return { rss: process.memoryUsage().rss, fds: readdirSync("/proc/self/fd").length, handles: nativeHandleCounts() };
}

export interface AbortOutcome {
  /** The error code it rejected with, or "completed" when the abort came after the work was done. */
  outcome: string;
  /** ms from abort() to the promise settling; null when the timer did not fire before it settled. */
  latencyMs: number | null;
  /** Native decode calls started after abort() (the one in flight then is not among them). */
  stepsAfter: number;
  /** What the work was doing when the abort came (the caller's last phase mark). */
  phase: string;
}

/**
 * Runs `work` and aborts it `delayMs` after it starts. `decodeCalls` reads the context's native decode
 * count, `phase` what the work is doing now.
 */
export async function abortAt(
  work: (signal: AbortSignal) => Promise<unknown>,
  delayMs: number,
  probes: { decodeCalls?: () => number; phase?: () => string } = {},
): Promise<AbortOutcome> {
  const controller = new AbortController();
  let firedAt: number | null = null;
  let callsAtAbort = 0;
  let phase = "before-start";
  const timer = setTimeout(() => {
    phase = probes.phase?.() ?? "running";
    firedAt = performance.now();
    controller.abort();
    // Read after abort(): a decode run starts its passes on the native thread, and one that passed its
    // cancellation check before the abort is in flight then, though it may be counted a moment later.
    callsAtAbort = probes.decodeCalls?.() ?? 0;
  }, delayMs);
  let outcome: string;
  try {
    await work(controller.signal);
    outcome = "completed";
  } catch (error) {
    outcome = (error as { code?: string }).code ?? `uncoded: ${String(error)}`;
  } finally {
    clearTimeout(timer);
  }
  const settled = performance.now();
  const fired = firedAt as number | null;
  return {
    outcome,
    latencyMs: fired === null ? null : settled - fired,
    stepsAfter: fired === null ? 0 : (probes.decodeCalls?.() ?? 0) - callsAtAbort,
    phase: fired === null ? "after-end" : phase,
  };
}

/** `n` seeded delays spread over [0, spanMs]. */
export function seededDelays(seed: number, n: number, spanMs: number): number[] {
  const random = seededRandom(seed);
  return Array.from({ length: n }, () => Math.floor(random() * spanMs));
}

/** Measures one run of `work` in ms. */
export async function timed(work: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await work();
  return performance.now() - start;
}

export interface AbortSummary {
  trials: number;
  aborted: number;
  completed: number;
  worstLatencyMs: number;
  medianLatencyMs: number;
  /** The most decode calls any trial started after its abort. */
  worstStepsAfter: number;
  /** Median duration of one decode step of the same work (what "within one step" is measured against). */
  stepMs: number | null;
  phases: Record<string, number>;
}

export function summarize(outcomes: AbortOutcome[], stepMs: number | null = null): AbortSummary {
  const latencies = outcomes.filter((o) => o.outcome === "ABORTED" && o.latencyMs !== null).map((o) => o.latencyMs!).sort((a, b) => a - b);
  const phases: Record<string, number> = {};
  for (const o of outcomes) if (o.outcome === "ABORTED") phases[o.phase] = (phases[o.phase] ?? 0) + 1;
  return {
    trials: outcomes.length,
    aborted: outcomes.filter((o) => o.outcome === "ABORTED").length,
    completed: outcomes.filter((o) => o.outcome === "completed").length,
    worstLatencyMs: round(latencies.at(-1) ?? 0),
    medianLatencyMs: round(latencies[Math.floor(latencies.length / 2)] ?? 0),
    worstStepsAfter: Math.max(0, ...outcomes.map((o) => o.stepsAfter)),
    stepMs: stepMs === null ? null : round(stepMs),
    phases,
  };
}

const round = (x: number) => Math.round(x * 100) / 100;

const resultsDir = join(repoRoot, "bench", "results");
const resultsJson = join(resultsDir, "reliability.json");

/** Full runs only: records one section of bench/results/reliability.json and rewrites the .md from it. */
export function recordResults(section: string, data: unknown): void {
  if (!FULL) return;
  mkdirSync(resultsDir, { recursive: true });
  const all: Record<string, unknown> = existsSync(resultsJson) ? JSON.parse(readFileSync(resultsJson, "utf8")) : {};
  // Merged into what the section holds, so one test run alone (vitest -t) keeps the other tests' rows.
  all[section] = { ...((all[section] as object | undefined) ?? {}), ...(data as object), recordedAt: new Date().toISOString() };
  writeFileSync(resultsJson, `${JSON.stringify(all, null, 2)}\n`);
  writeFileSync(join(resultsDir, "reliability.md"), renderMarkdown(all));
}

function renderMarkdown(all: Record<string, unknown>): string {
  const lines = [
    "# Reliability (issue 12): aborts, disposal, load and soak",
    "",
    "Written by `npm run soak` (the tests in test/reliability at full size). Tiny generated fixtures on the CPU;",
    "latencies are wall-clock ms from `abort()` to the promise settling, on a shared 2-core machine.",
    "",
  ];
  for (const [section, data] of Object.entries(all)) {
    lines.push(`## ${section}`, "");
    const d = data as Record<string, unknown>;
    const rows = Object.entries(d).filter(([, v]) => v !== null && typeof v === "object" && !Array.isArray(v) && "trials" in (v as object));
    if (rows.length > 0) {
      lines.push("| point | trials | aborted | completed first | worst latency ms | median latency ms | step ms | most steps after abort | phases aborted in |");
      lines.push("|---|---|---|---|---|---|---|---|---|");
      for (const [point, v] of rows) {
        const s = v as AbortSummary;
        const phases = Object.entries(s.phases).map(([p, n]) => `${p} ${n}`).join(", ");
        lines.push(`| ${point} | ${s.trials} | ${s.aborted} | ${s.completed} | ${s.worstLatencyMs} | ${s.medianLatencyMs} | ${s.stepMs ?? "–"} | ${s.worstStepsAfter} | ${phases} |`);
      }
      lines.push("");
    }
    const rest = Object.fromEntries(Object.entries(d).filter(([k]) => !rows.some(([r]) => r === k)));
    lines.push("```json", JSON.stringify(rest, null, 2), "```", "");
  }
  return lines.join("\n");
}
