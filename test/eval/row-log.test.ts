import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { readRowLog, RowLog } from "../../lib/eval/row-log.js";
import type { RowRecord } from "../../lib/eval/row-record.js";

const row = (id: string) => ({ id, correct: id.length % 2 === 0 }) as unknown as RowRecord;

describe("the results JSONL", () => {
  test("rows appended are read back in order; a missing file is no rows", () => {
    const path = join(mkdtempSync(join(tmpdir(), "row-log-")), "r.jsonl");
    expect(readRowLog(path)).toEqual({ rows: [], intactBytes: 0, torn: false });
    const log = new RowLog(path, 0);
    for (const id of ["a", "bb", "c"]) log.append(row(id));
    log.close();
    const read = readRowLog(path);
    expect(read.rows.map((r) => r.id)).toEqual(["a", "bb", "c"]);
    expect(read.torn).toBe(false);
    expect(read.intactBytes).toBe(readFileSync(path).length);
  });

  test("a last line cut short by a kill is dropped, and cut off before the next append", () => {
    const path = join(mkdtempSync(join(tmpdir(), "row-log-")), "r.jsonl");
    const log = new RowLog(path, 0);
    log.append(row("a"));
    log.close();
    appendFileSync(path, '{"id":"b","corr');
    const read = readRowLog(path);
    expect(read.rows.map((r) => r.id)).toEqual(["a"]);
    expect(read.torn).toBe(true);
    const again = new RowLog(path, read.intactBytes);
    again.append(row("c"));
    again.close();
    expect(readRowLog(path).rows.map((r) => r.id)).toEqual(["a", "c"]);
    expect(readFileSync(path, "utf8").split("\n")).toHaveLength(3);
  });

  test("a file that is not results is refused, naming the line", () => {
    const path = join(mkdtempSync(join(tmpdir(), "row-log-")), "r.jsonl");
    writeFileSync(path, '{"id":"a"}\nnot json\n');
    expect(() => readRowLog(path)).toThrow(/line 2 is not a result row/);
  });
});
