// llama.cpp's GBNF parser never returns on a repetition whose minimum exceeds its maximum (`"a"{2,1}`):
// the fuzz harness found the call hanging. Such bounds are refused here, before the parser sees them.
import { createError } from "./errors.js";

/** Throws INVALID_GRAMMAR for a `{min,max}` repetition with min > max outside literals and classes. */
export function checkRepetitionBounds(grammar: string): void {
  let quote = false;
  let charClass = false;
  for (let i = 0; i < grammar.length; i++) {
    const c = grammar[i];
    if (c === "\\") {
      i++;
      continue;
    }
    if (quote) quote = c !== '"';
    else if (charClass) charClass = c !== "]";
    else if (c === '"') quote = true;
    else if (c === "[") charClass = true;
    else if (c === "#") while (i < grammar.length && grammar[i] !== "\n") i++;
    else if (c === "{") {
      const bounds = /^\{\s*(\d+)\s*,\s*(\d+)\s*\}/.exec(grammar.slice(i));
      if (bounds && Number(bounds[1]) > Number(bounds[2])) {
        throw createError("INVALID_GRAMMAR", `the grammar repeats something ${bounds[0]} times: the minimum is over the maximum`);
      }
    }
  }
}
