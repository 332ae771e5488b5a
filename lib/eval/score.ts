// Scoring a conclusion against the reference answer, the usual ways, chosen by the answer's kind:
//   choice  — multiple choice: the option letter ("B", "(B)", "B.", "The answer is B") or the option's text
//   yes-no  — a yes/no answer
//   number  — a numeric answer, within a relative tolerance (default 1%: a count of 3 must be 3)
//   exact   — anything else: equal after normalisation (case, punctuation, articles, spacing)
// Each score says which scorer decided and what it read from the conclusion (null: nothing usable).
import type { EvalItem } from "./item.js";

export type ScorerName = "choice" | "yes-no" | "number" | "exact";

export interface Score {
  scorer: ScorerName;
  /** The answer read from the prediction: a letter, yes/no, a number, the normalised text; null if none. */
  extracted: string | null;
  correct: boolean;
}

export interface ScoreOptions {
  /** Relative tolerance of numeric answers (default 0.01). */
  tolerance?: number;
}

export function scorerFor(item: Pick<EvalItem, "choices" | "answer">): ScorerName {
  if (item.choices) return "choice";
  if (yesNo(item.answer) !== null && /^\W*(yes|no)\W*$/i.test(item.answer)) return "yes-no";
  if (parseNumber(item.answer) !== null) return "number";
  return "exact";
}

export function scoreAnswer(item: Pick<EvalItem, "choices" | "answer">, prediction: string, options: ScoreOptions = {}): Score {
  const scorer = scorerFor(item);
  switch (scorer) {
    case "choice": {
      const extracted = extractChoice(prediction, item.choices!);
      return { scorer, extracted, correct: extracted === item.answer.trim().toUpperCase() };
    }
    case "yes-no": {
      const extracted = yesNo(prediction);
      return { scorer, extracted, correct: extracted !== null && extracted === yesNo(item.answer) };
    }
    case "number": {
      const value = extractNumber(prediction);
      const expected = parseNumber(item.answer)!;
      const tolerance = options.tolerance ?? 0.01;
      return { scorer, extracted: value === null ? null : String(value), correct: value !== null && Math.abs(value - expected) <= tolerance * Math.abs(expected) + 1e-9 };
    }
    case "exact": {
      const said = normalise(answerPhrase(prediction) ?? prediction);
      const whole = normalise(prediction);
      const expected = normalise(item.answer);
      return { scorer, extracted: said || null, correct: expected.length > 0 && (said === expected || whole === expected) };
    }
  }
}

/** Lower case, no punctuation, no articles, single spaces. */
export function normalise(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s]/gu, " ")
    .split(/\s+/)
    .filter((w) => w && !["a", "an", "the"].includes(w))
    .join(" ");
}

/** What follows "the answer is" / "answer:" — the part a model marks as its answer — if anything does. */
function answerPhrase(text: string): string | null {
  const matches = [...text.matchAll(/answer\s*(?:is|:)\s*:?\s*([^\n]+)/gi)];
  const last = matches.at(-1)?.[1]?.trim().replace(/[.!]+$/, "");
  return last ? last : null;
}

/** The option a prediction picks, as its letter; null when it picks none or is ambiguous. */
export function extractChoice(prediction: string, choices: Record<string, string>): string | null {
  const letters = new Set(Object.keys(choices));
  const valid = (l: string | undefined) => (l !== undefined && letters.has(l) ? l : null);
  const text = prediction.trim();
  // "B", "(B)", "[B]", "B.", "B)"
  const bare = /^[\s(\[*]*([A-Z])[\s)\].:,*]*$/.exec(text);
  if (bare) return valid(bare[1]);
  // "The answer is B", "Answer: (C)", "the correct option is D." — the last one said wins.
  const stated = [...text.matchAll(/(?:[Aa]nswer|[Oo]ption|[Cc]hoice)\s*(?:is|would be|:)?\s*:?\s*(?:[Oo]ption\s+)?[(\[*]?([A-Z])(?![A-Za-z])/g)]
    .map((m) => valid(m[1]))
    .filter((l) => l !== null);
  if (stated.length > 0) return stated.at(-1)!;
  // "B. red", "(B) red", "B) red", "B: red"
  const unique = (found: string[]) => {
    const set = new Set(found);
    return set.size === 1 ? [...set][0]! : null;
  };
  const bracketedLetters = [...text.matchAll(/[(\[]([A-Z])[)\]]/g)].map((m) => m[1]!).filter((l) => letters.has(l));
  // "B. red", "(B) red", "B) red", "B: red" — unless other options are named in brackets too ("(A) or (B)").
  const leading = /^[(\[*]*([A-Z])(?:[)\]]|[.:](?=\s|$))/.exec(text);
  if (valid(leading?.[1]) && bracketedLetters.every((l) => l === leading![1])) return leading![1]!;
  // One bracketed letter anywhere: "… so (C) is right".
  const bracketed = unique(bracketedLetters);
  if (bracketed) return bracketed;
  if (bracketedLetters.length > 0) return null;
  // An option's text, as whole words; of several, the longest when it contains the others.
  const said = ` ${normalise(text)} `;
  const named = Object.entries(choices)
    .map(([letter, option]) => ({ letter, option: normalise(option) }))
    .filter(({ option }) => option.length > 0 && said.includes(` ${option} `))
    .sort((a, b) => b.option.length - a.option.length);
  if (named.length > 0 && named.every((n) => named[0]!.option.includes(n.option))) {
    const sameText = named.filter((n) => n.option === named[0]!.option);
    if (sameText.length === 1) return named[0]!.letter;
  }
  // A standalone capital letter, not the article "A" or the pronoun "I" starting a phrase.
  const words = text.split(/\s+/);
  const standalone = words.flatMap((w, i) => {
    const letter = w.replace(/^[(\[*"']+|[)\].,:;!?*"']+$/g, "");
    if (!letters.has(letter)) return [];
    const next = words[i + 1];
    if ((letter === "A" || letter === "I") && w === letter && next !== undefined && /^[a-z]/.test(next)) return [];
    return [letter];
  });
  return unique(standalone);
}

/** "yes" or "no" as a prediction says it: its first word, or the only one of the two it uses. */
export function yesNo(text: string): "yes" | "no" | null {
  const words = normalise(text).split(" ");
  if (words[0] === "yes" || words[0] === "no") return words[0];
  const said = new Set(words.filter((w) => w === "yes" || w === "no"));
  return said.size === 1 ? ([...said][0] as "yes" | "no") : null;
}

const NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"];
const NUMBER = /-?\d+(?:,\d{3})*(?:\.\d+)?|-?\.\d+/g;

/** A whole answer as a number: "3", "1,200", "45%", "$3.50", "three"; null when it is not one. */
export function parseNumber(text: string): number | null {
  const t = text.trim().toLowerCase().replace(/^\$/, "").replace(/%$/, "").trim();
  if (/^-?(\d+(,\d{3})*(\.\d+)?|\.\d+)$/.test(t)) return Number(t.replaceAll(",", ""));
  const word = NUMBER_WORDS.indexOf(t.replace(/[.!]$/, ""));
  return word >= 0 ? word : null;
}

/** The number a prediction gives: the one after "answer is", else the last one in it (digits or words). */
export function extractNumber(text: string): number | null {
  const phrase = answerPhrase(text);
  for (const source of phrase ? [phrase, text] : [text]) {
    const found: { at: number; value: number }[] = [];
    for (const m of source.matchAll(NUMBER)) found.push({ at: m.index, value: Number(m[0].replaceAll(",", "")) });
    for (const m of source.toLowerCase().matchAll(new RegExp(`\\b(${NUMBER_WORDS.join("|")})\\b`, "g"))) found.push({ at: m.index, value: NUMBER_WORDS.indexOf(m[1]!) });
    if (found.length > 0) {
      found.sort((a, b) => a.at - b.at);
      return (source === phrase ? found[0] : found.at(-1))!.value;
    }
  }
  return null;
}
