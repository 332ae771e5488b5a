// How `stagebeam eval` shows its progress on stderr: on a TTY one status line with a bar, the accuracy so
// far and an estimate of the time left; otherwise (a log, CI) a plain line per row.
import type { EvalProgress } from "../eval/runner.js";
import type { Terminal } from "./terminal.js";

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/**
 * A progress reporter for `strategies` strategies run one after another. The time left is this
 * strategy's mean row time (rows run now, not resumed ones) times its rows left, plus the later
 * strategies' rows at the mean of every row run so far — a floor, since wider searches take longer.
 */
export function evalProgress(term: Terminal, strategies: number, say: (line: string) => void): (p: EvalProgress) => void {
  let index = -1;
  let label = "";
  let spentThis = 0;
  let ranThis = 0;
  let spentAll = 0;
  let ranAll = 0;
  return (p) => {
    if (p.spec.label !== label) {
      label = p.spec.label;
      index += 1;
      spentThis = 0;
      ranThis = 0;
      if (p.done > 0) say(`${label}: resuming after ${p.done} of ${p.total} rows`);
    }
    if (p.row) {
      spentThis += p.row.timings.wallMs;
      ranThis += 1;
      spentAll += p.row.timings.wallMs;
      ranAll += 1;
    }
    const accuracy = p.done > 0 ? `${((100 * p.correct) / p.done).toFixed(1)}%` : "–";
    const left = ranThis > 0 ? (p.total - p.done) * (spentThis / ranThis) + (strategies - index - 1) * p.total * (spentAll / ranAll) : null;
    const eta = left === null ? "" : p.done === p.total && index === strategies - 1 ? "" : `  eta ${duration(left)}`;
    const head = `[${index + 1}/${strategies}] ${label}`;
    if (term.interactive) {
      const size = 20;
      const filled = Math.round((p.done / Math.max(1, p.total)) * size);
      term.status(`${head} [${"#".repeat(filled)}${"-".repeat(size - filled)}] ${p.done}/${p.total}  accuracy ${accuracy}${eta}`);
      if (p.done === p.total) {
        term.clear();
        say(`${head}: ${p.done} rows, accuracy ${accuracy}`);
      }
    } else if (p.row) {
      const error = p.row.error ? `  error: ${p.row.error}` : "";
      say(`${head} ${p.done}/${p.total} id ${p.row.id}: ${p.row.correct ? "right" : "wrong"} (${(p.row.timings.wallMs / 1000).toFixed(2)}s)  accuracy ${accuracy}${eta}${error}`);
    }
  };
}
