// The harness's own JSONL format, one question a line:
//   {"id": "q1", "image": "pictures/q1.png" | "<base64>" | "data:image/png;base64,…", "question": "…",
//    "choices": ["red", "blue"] | {"A": "red", "B": "blue"}, "answer": "B", "category": "colour"}
// `image` and `choices` are optional; a path is relative to the JSONL file. A choices array is lettered
// A, B, … in order. Lines that do not make a question are reported with their line number and skipped.
import { isAbsolute, join } from "node:path";
import { imageFormat } from "../image-input.js";
import type { EvalItem, ReadItems, RowProblem } from "./item.js";

const LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const BASE64 = /^[A-Za-z0-9+/\r\n]+={0,2}$/;

export function readJsonlItems(text: string, baseDir: string): ReadItems {
  const items: EvalItem[] = [];
  const problems: RowProblem[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(raw);
    } catch (error) {
      problems.push({ line, message: `is not JSON: ${(error as Error).message}` });
      return;
    }
    const result = item(row, baseDir);
    if (typeof result === "string") {
      const id = typeof row === "object" && row !== null && "id" in row ? String((row as { id: unknown }).id) : undefined;
      problems.push({ line, ...(id ? { id } : {}), message: result });
    } else if (seen.has(result.id)) {
      problems.push({ line, id: result.id, message: `repeats id ${result.id}` });
    } else {
      seen.add(result.id);
      items.push(result);
    }
  });
  return { items, problems };
}

/** The item a parsed line describes, or what is wrong with it. */
function item(row: unknown, baseDir: string): EvalItem | string {
  if (typeof row !== "object" || row === null || Array.isArray(row)) return "is not a JSON object";
  const r = row as Record<string, unknown>;
  if (typeof r.id !== "string" && typeof r.id !== "number") return 'has no "id" (a string or a number)';
  if (typeof r.question !== "string" || r.question.trim() === "") return 'has no "question" (a non-empty string)';
  if (typeof r.answer !== "string" && typeof r.answer !== "number" && typeof r.answer !== "boolean") return 'has no "answer" (a string or a number)';
  let answer = String(r.answer).trim();
  if (answer === "") return '"answer" is empty';
  let choices: Record<string, string> | undefined;
  if (r.choices !== undefined && r.choices !== null) {
    const list = Array.isArray(r.choices) ? r.choices.map((c, k) => [LETTERS[k], c] as const) : typeof r.choices === "object" ? Object.entries(r.choices) : null;
    if (!list || list.length < 2 || list.length > LETTERS.length) return '"choices" must be an array of 2 to 26 option texts, or an object of them by letter';
    if (!list.every(([k, v]) => typeof k === "string" && /^[A-Z]$/.test(k) && (typeof v === "string" || typeof v === "number"))) {
      return '"choices" must hold option texts (strings) lettered A to Z';
    }
    choices = Object.fromEntries(list.map(([k, v]) => [k!, String(v).trim()]));
    if (!(answer in choices)) {
      const letter = Object.keys(choices).find((l) => choices![l] === answer);
      if (!letter) return `"answer" ${JSON.stringify(answer)} is neither a letter of the choices (${Object.keys(choices).join(", ")}) nor one of their texts`;
      answer = letter;
    }
  }
  let image: EvalItem["image"];
  if (r.image !== undefined && r.image !== null) {
    if (typeof r.image !== "string" || r.image.trim() === "") return '"image" must be a path, a data: URL or base64';
    image = imageOf(r.image.trim(), baseDir);
  }
  if (r.category !== undefined && r.category !== null && typeof r.category !== "string") return '"category" must be a string';
  if (r.hint !== undefined && r.hint !== null && typeof r.hint !== "string") return '"hint" must be a string';
  return {
    id: String(r.id),
    question: r.question.trim(),
    ...(typeof r.hint === "string" && r.hint.trim() ? { hint: r.hint.trim() } : {}),
    ...(image === undefined ? {} : { image }),
    ...(choices ? { choices } : {}),
    answer,
    ...(typeof r.category === "string" && r.category.trim() ? { category: r.category.trim() } : {}),
  };
}

/**
 * A data: URL, or base64 that decodes to an image (or is too long to be a path), as bytes; anything else
 * is a path, relative to the JSONL's folder. Short base64 counts too: a small flat PNG is under 256
 * characters, and a file name that happens to be valid base64 ("cat1") does not decode to an image.
 */
function imageOf(value: string, baseDir: string): Uint8Array | string {
  const dataUrl = /^data:[^,]*;base64,(.*)$/s.exec(value);
  if (dataUrl) return Buffer.from(dataUrl[1]!, "base64");
  if (BASE64.test(value)) {
    const bytes = Buffer.from(value, "base64");
    if (value.length > 256 || isDecodableImage(bytes)) return bytes;
  }
  return isAbsolute(value) ? value : join(baseDir, value);
}

function isDecodableImage(bytes: Uint8Array): boolean {
  try {
    imageFormat(bytes);
    return true;
  } catch {
    return false;
  }
}
