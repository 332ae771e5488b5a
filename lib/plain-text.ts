// Plain-text stretches of a prompt (MarkedPrompt.plainText): what a user wrote, placed in a chat template.
// The template's own special tokens (`<|start_header_id|>`, `<|eot_id|>`) must be parsed, the user's copy
// of the same characters must not — and a media marker the user typed is not an image.
//
// A prompt is split around a stretch only when that stretch would tokenize differently as plain text
// (it holds special-token text) or holds a media marker that would be read as an image. Everything else is
// tokenized in one piece, as before: llama.cpp's tools tokenize a whole prompt at once, and SPM/BPE
// tokenization can differ at a split, so ordinary prompts keep exactly the tokens the parity tests
// compare with.
import type { TextSpan } from "./engine/prompt-input.js";
import { createError } from "./errors.js";

export interface PromptPiece {
  text: string;
  /** Plain text: tokenized with parseSpecial off, never split at media markers. */
  plain: boolean;
}

const isHigh = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLow = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/** Throws INVALID_ARGUMENT unless `spans` are sorted, disjoint, inside the prompt, and cut no character in two. */
export function checkPlainText(prompt: string, spans: unknown): readonly TextSpan[] {
  if (spans === undefined) return [];
  if (!Array.isArray(spans)) throw createError("INVALID_ARGUMENT", `plainText must be an array of { start, end } spans, got ${typeof spans}`);
  let previousEnd = 0;
  for (const span of spans as unknown[]) {
    const { start, end } = (span ?? {}) as Partial<TextSpan>;
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start! < previousEnd || end! < start! || end! > prompt.length) {
      throw createError(
        "INVALID_ARGUMENT",
        `plainText spans must be integer { start, end } with start <= end, inside the prompt (length ${prompt.length}), sorted and not overlapping; got ${JSON.stringify(span)}`,
      );
    }
    for (const at of [start!, end!]) {
      if (at > 0 && at < prompt.length && isHigh(prompt.charCodeAt(at - 1)) && isLow(prompt.charCodeAt(at))) {
        throw createError("INVALID_ARGUMENT", `plainText span ${JSON.stringify(span)} cuts a character (a surrogate pair) in two`);
      }
    }
    previousEnd = end!;
  }
  return spans as readonly TextSpan[];
}

/** Occurrences of `marker` in the prompt outside the plain-text spans. */
export function countMarkersOutside(prompt: string, marker: string, spans: readonly TextSpan[]): number {
  let count = 0;
  let from = 0;
  for (const span of [...spans, { start: prompt.length, end: prompt.length }]) {
    count += prompt.slice(from, span.start).split(marker).length - 1;
    from = span.end;
  }
  return count;
}

/**
 * The prompt cut into parsed and plain pieces, or null when no span needs it (none would tokenize
 * differently as plain text, and none holds `marker` where markers mean images).
 */
export function plainPieces(
  prompt: string,
  spans: readonly TextSpan[],
  needsPlain: (text: string) => boolean,
): PromptPiece[] | null {
  const cut = spans.filter((span) => span.end > span.start && needsPlain(prompt.slice(span.start, span.end)));
  if (cut.length === 0) return null;
  const pieces: PromptPiece[] = [];
  let from = 0;
  for (const span of cut) {
    if (span.start > from) pieces.push({ text: prompt.slice(from, span.start), plain: false });
    pieces.push({ text: prompt.slice(span.start, span.end), plain: true });
    from = span.end;
  }
  if (from < prompt.length) pieces.push({ text: prompt.slice(from), plain: false });
  return pieces;
}

/** Windows `holdsSpecialText` tokenizes (see there), and how far each reaches into the next. */
const WINDOW = 4096;
const OVERLAP = 256;

/**
 * True when `text` tokenizes differently with special tokens parsed: it holds special-token text.
 * Looked for in overlapping windows (any special-token text up to OVERLAP characters falls whole into
 * one): llama.cpp's special-token partition slows down with the square of the matches, and a 1 MB
 * question full of `<s>` took 80 s to tokenize with them parsed (as text it takes 1 s).
 */
export function holdsSpecialText(tokenize: (text: string, options: { addSpecial: boolean; parseSpecial: boolean }) => number[], text: string): boolean {
  for (let from = 0; from < text.length; from += WINDOW) {
    const window = text.slice(from, from + WINDOW + OVERLAP);
    const parsed = tokenize(window, { addSpecial: false, parseSpecial: true });
    const plain = tokenize(window, { addSpecial: false, parseSpecial: false });
    if (parsed.length !== plain.length || parsed.some((token, i) => token !== plain[i])) return true;
    if (from + WINDOW + OVERLAP >= text.length) break;
  }
  return false;
}
