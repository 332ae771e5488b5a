// VLMEvalKit's benchmark TSV: columns `index`, `image` (base64, or the index of an earlier row whose
// image it shares, as MMBench does), `question`, optional `hint`, option columns `A`, `B`, … (empty where
// a question has fewer options), `answer` (the letter for multiple choice) and `category`. Rows that do
// not make a question are reported with their line and skipped.
import type { EvalItem, ReadItems, RowProblem } from "./item.js";
import { parseTsv } from "./tsv-fields.js";

const OPTION_COLUMN = /^[A-Z]$/;
const BASE64 = /^[A-Za-z0-9+/\r\n]+={0,2}\s*$/;
/** pandas writes a missing value as an empty field; files passed through other tools say "nan". */
const missing = (v: string | undefined) => v === undefined || v.trim() === "" || v.trim().toLowerCase() === "nan";

export function readVlmevalTsv(text: string): ReadItems {
  const rows = parseTsv(text);
  const problems: RowProblem[] = [];
  if (rows.length === 0) return { items: [], problems: [{ line: 1, message: "the file is empty: a VLMEvalKit TSV starts with a header row" }] };
  const header = rows[0]!.fields.map((h) => h.trim());
  const column = (name: string) => header.indexOf(name);
  for (const required of ["index", "question", "answer"]) {
    if (column(required) < 0) {
      return { items: [], problems: [{ line: 1, message: `the header has no "${required}" column (columns: ${header.join(", ")}): is this a VLMEvalKit benchmark TSV?` }] };
    }
  }
  const options = header.filter((h) => OPTION_COLUMN.test(h));
  const imageColumn = column("image");
  const images = new Map<string, string>();
  if (imageColumn >= 0) {
    for (const row of rows.slice(1)) {
      const image = row.fields[imageColumn];
      if (!missing(image) && image!.length > 64) images.set(row.fields[column("index")]!.trim(), image!);
    }
  }
  const items: EvalItem[] = [];
  const seen = new Set<string>();
  for (const row of rows.slice(1)) {
    const get = (name: string) => {
      const i = column(name);
      return i < 0 ? undefined : row.fields[i];
    };
    const id = get("index")?.trim();
    const problem = (message: string) => problems.push({ line: row.line, ...(id ? { id } : {}), message });
    if (row.fields.length !== header.length) {
      problem(`has ${row.fields.length} fields where the header has ${header.length}`);
      continue;
    }
    if (missing(id)) {
      problem("has no index");
      continue;
    }
    if (seen.has(id!)) {
      problem(`repeats index ${id}`);
      continue;
    }
    const question = get("question");
    if (missing(question)) {
      problem("has no question");
      continue;
    }
    let answer = get("answer")?.trim() ?? "";
    if (missing(answer)) {
      problem("has no answer");
      continue;
    }
    const choices: Record<string, string> = {};
    for (const letter of options) {
      const text = get(letter);
      if (!missing(text)) choices[letter] = text!.trim();
    }
    const hasChoices = Object.keys(choices).length > 0;
    if (hasChoices && !(answer in choices)) {
      // Some files give the option's text instead of its letter.
      const letter = Object.keys(choices).find((l) => choices[l] === answer);
      if (!letter) {
        problem(`answer "${answer}" is none of the options ${Object.keys(choices).join(", ")}`);
        continue;
      }
      answer = letter;
    }
    let image: Uint8Array | undefined;
    const raw = imageColumn < 0 ? undefined : row.fields[imageColumn]!.trim();
    if (!missing(raw)) {
      const encoded = raw!.length <= 64 && images.has(raw!) ? images.get(raw!)! : raw!;
      if (!BASE64.test(encoded)) {
        problem(raw!.length <= 64 ? `image "${raw}" is neither base64 nor the index of a row with an image` : "image is not base64");
        continue;
      }
      image = Buffer.from(encoded, "base64");
    }
    seen.add(id!);
    const hint = get("hint");
    const category = get("category");
    items.push({
      id: id!,
      question: question!.trim(),
      ...(missing(hint) ? {} : { hint: hint!.trim() }),
      ...(image ? { image } : {}),
      ...(hasChoices ? { choices } : {}),
      answer,
      ...(missing(category) ? {} : { category: category!.trim() }),
    });
  }
  return { items, problems };
}
