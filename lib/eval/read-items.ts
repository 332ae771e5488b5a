// Reads a benchmark file by its extension: .tsv is VLMEvalKit's format, .jsonl (or .json lines) ours.
import { readFileSync } from "node:fs";
import { dirname, extname, resolve } from "node:path";
import { createError } from "../errors.js";
import type { ReadItems } from "./item.js";
import { readJsonlItems } from "./jsonl-items.js";
import { readVlmevalTsv } from "./vlmeval-tsv.js";

export function readItems(path: string): ReadItems {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw createError("INVALID_DATA", `cannot read the benchmark file ${path}: ${(error as Error).message}`, error);
  }
  const ext = extname(path).toLowerCase();
  if (ext === ".tsv") return readVlmevalTsv(text);
  if (ext === ".jsonl" || ext === ".ndjson") return readJsonlItems(text, dirname(resolve(path)));
  throw createError("INVALID_DATA", `${path}: the benchmark file must be a VLMEvalKit .tsv or a .jsonl`);
}
