// The predictions as VLMEvalKit writes them (its `{model}_{dataset}.xlsx/.tsv`): the benchmark's columns
// without the image, plus `prediction` — here the conclusion — so VLMEvalKit's own judges and scripts can
// read our results. Our score of each row follows in `extracted`, `scorer` and `hit`.
import type { RowRecord } from "./row-record.js";
import { tsvField } from "./tsv-fields.js";

export function predictionTsv(rows: RowRecord[]): string {
  const letters = [...new Set(rows.flatMap((r) => Object.keys(r.choices ?? {})))].sort();
  const header = ["index", "question", "hint", ...letters, "answer", "category", "prediction", "extracted", "scorer", "hit", "error"];
  const lines = [header.join("\t")];
  for (const r of rows) {
    const fields = [
      r.id,
      r.question,
      r.hint ?? "",
      ...letters.map((l) => r.choices?.[l] ?? ""),
      r.answer,
      r.category ?? "",
      r.prediction,
      r.extracted ?? "",
      r.scorer,
      r.correct ? "1" : "0",
      r.error ?? "",
    ];
    lines.push(fields.map(tsvField).join("\t"));
  }
  return `${lines.join("\n")}\n`;
}
