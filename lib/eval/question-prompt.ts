// The text a model is asked, built from a benchmark item the way VLMEvalKit builds its multiple-choice
// prompts (hint, question, lettered options, an instruction to pick one), so numbers here compare with
// numbers there. Open questions are asked as they are.
import type { EvalItem } from "./item.js";

export function questionPrompt(item: EvalItem): string {
  const parts: string[] = [];
  if (item.hint) parts.push(`Hint: ${item.hint}`);
  if (!item.choices) {
    parts.push(item.question);
    return parts.join("\n");
  }
  parts.push(`Question: ${item.question}`);
  parts.push("Options:");
  for (const [letter, text] of Object.entries(item.choices)) parts.push(`${letter}. ${text}`);
  parts.push("Please select the correct answer from the options above.");
  return parts.join("\n");
}
