import { describe, expect, test } from "vitest";
import { evalProgress } from "../../lib/cli/eval-progress.js";
import type { Terminal } from "../../lib/cli/terminal.js";
import type { RowRecord } from "../../lib/eval/row-record.js";
import { parseStrategySpecs } from "../../lib/eval/strategy-spec.js";

function fakeTerminal(interactive: boolean) {
  const status: string[] = [];
  const term = { interactive, color: false, status: (t: string) => status.push(t), note() {}, clear() {}, bar() {}, dim: (t: string) => t, bold: (t: string) => t } as Terminal;
  return { term, status };
}

const row = (id: string, wallMs: number, correct: boolean) => ({ id, correct, error: null, timings: { wallMs, stagesMs: {} } }) as unknown as RowRecord;
const [single, beam] = parseStrategySpecs("single,stage-beam:4");

describe("eval progress", () => {
  test("on a TTY: a bar, the accuracy so far and the time left from the rows run now", () => {
    const { term, status } = fakeTerminal(true);
    const said: string[] = [];
    const report = evalProgress(term, 2, (l) => said.push(l));
    report({ spec: single!, done: 0, total: 4, correct: 0 });
    report({ spec: single!, done: 1, total: 4, correct: 1, row: row("a", 2000, true) });
    // 3 rows left at 2 s, then 4 rows of the next strategy at 2 s: 14 s.
    expect(status.at(-1)).toBe("[1/2] single [#####---------------] 1/4  accuracy 100.0%  eta 14s");
    // Mean 3 s a row: 2 rows left, then 4 of the next strategy.
    report({ spec: single!, done: 2, total: 4, correct: 1, row: row("b", 4000, false) });
    expect(status.at(-1)).toBe("[1/2] single [##########----------] 2/4  accuracy 50.0%  eta 18s");
    // The next strategy resumes after 3 rows: its time left waits for a row run now.
    report({ spec: beam!, done: 3, total: 4, correct: 2 });
    expect(said).toContain("stage-beam:4: resuming after 3 of 4 rows");
    expect(status.at(-1)).toBe("[2/2] stage-beam:4 [###############-----] 3/4  accuracy 66.7%");
    report({ spec: beam!, done: 4, total: 4, correct: 3, row: row("d", 60_000, true) });
    expect(said.at(-1)).toBe("[2/2] stage-beam:4: 4 rows, accuracy 75.0%");
  });

  test("otherwise: a plain line per row, errors included", () => {
    const { term, status } = fakeTerminal(false);
    const said: string[] = [];
    const report = evalProgress(term, 1, (l) => said.push(l));
    report({ spec: single!, done: 0, total: 200, correct: 0 });
    report({ spec: single!, done: 1, total: 200, correct: 0, row: { ...row("x", 3_000, false), error: "[INVALID_IMAGE] bad" } });
    expect(status).toEqual([]);
    expect(said).toEqual(["[1/1] single 1/200 id x: wrong (3.00s)  accuracy 0.0%  eta 9m57s  error: [INVALID_IMAGE] bad"]);
  });
});
