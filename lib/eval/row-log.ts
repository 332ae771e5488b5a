// The results JSONL on disk: appended a row at a time and flushed to the disk (fsync) after each, so a
// run killed at any moment loses at most the row it was working on; read back tolerating a last line
// cut short by such a kill (it is dropped, and cut off the file before anything is appended).
import { closeSync, existsSync, fsyncSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { createError } from "../errors.js";
import type { RowRecord } from "./row-record.js";

export interface LoggedRows {
  rows: RowRecord[];
  /** Bytes of whole lines: where appending resumes. */
  intactBytes: number;
  /** A last line was cut short (the run was killed while writing it). */
  torn: boolean;
}

export function readRowLog(path: string): LoggedRows {
  if (!existsSync(path)) return { rows: [], intactBytes: 0, torn: false };
  const bytes = readFileSync(path);
  const end = bytes.lastIndexOf(0x0a) + 1;
  const rows: RowRecord[] = [];
  bytes
    .subarray(0, end)
    .toString("utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        rows.push(JSON.parse(line) as RowRecord);
      } catch {
        throw createError("INVALID_DATA", `${path} line ${i + 1} is not a result row: the file is not a stagebeam eval JSONL, or it was edited — use another --out`);
      }
    });
  return { rows, intactBytes: end, torn: end < bytes.length };
}

export class RowLog {
  #fd: number;

  /** Opens for appending after the intact rows (a torn last line is cut off). */
  constructor(path: string, intactBytes: number) {
    this.#fd = openSync(path, existsSync(path) ? "r+" : "w");
    ftruncateSync(this.#fd, intactBytes);
    this.#position = intactBytes;
  }

  #position: number;

  append(row: RowRecord): void {
    const line = Buffer.from(`${JSON.stringify(row)}\n`, "utf8");
    let written = 0;
    while (written < line.length) written += writeSync(this.#fd, line, written, line.length - written, this.#position + written);
    this.#position += line.length;
    fsyncSync(this.#fd);
  }

  close(): void {
    closeSync(this.#fd);
  }
}
