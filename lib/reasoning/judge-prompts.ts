// The judge's words (ours, structured as the paper's): per-stage instruction and criterion, the
// question, a hint for the later stages, the two responses, and the required answer form.
import type { CandidateKind } from "./trace.js";

const criteria: Record<CandidateKind, { instruction: string; reminder: string }> = {
  SUMMARY: {
    instruction: "Each response outlines how to approach the question, before any analysis is done.",
    reminder: "Prefer the response that lays out the better plan for solving the question, without doing the analysis or writing formulas yet.",
  },
  CAPTION: {
    instruction: "Each response describes what in the image matters for the question.",
    reminder: "Prefer the response that describes the image information relevant to the question more thoroughly and with fewer errors.",
  },
  REASONING: {
    instruction: "Each response reasons step by step towards the answer. Review the question, examine each response, then compare them.",
    reminder: "Prefer the response whose reasoning is sounder and has fewer errors.",
  },
  CONCLUSION: {
    instruction: "Each response states the final answer.",
    reminder: "Prefer the response whose conclusion is more effective and consistent with the reasoning in the hint. A response that refuses to answer is worse.",
  },
  ANSWER: {
    instruction: "Each response is a complete answer to the question.",
    reminder: "Prefer the response that better answers the question.",
  },
  SENTENCE: {
    instruction: "Each response is the next sentence of an answer in progress; the text so far is in the hint.",
    reminder: "Prefer the response that is the better next sentence.",
  },
};

export const ANSWER_FORM = "Since [reason], I choose response [1/2].";
/** What logprob mode writes for the judge before reading the choice. */
export const FORCED_CHOICE_PREFIX = "I choose response";

/**
 * A judge's message: `shared` is the lead every judge of the same stage writes alike (instruction,
 * question, hint), so it can be evaluated once and forked; `text` is the whole message.
 */
export interface JudgePrompt {
  text: string;
  shared: string;
}

const judgePrompt = (lead: string[], own: string[]): JudgePrompt => {
  const shared = `${lead.join("\n")}\n`;
  return { shared, text: shared + own.join("\n") };
};

export function pairwisePrompt(kind: CandidateKind, question: string, first: string, second: string, hint?: string): JudgePrompt {
  const c = criteria[kind];
  return judgePrompt(
    [`You are judging two candidate responses to a question about the image. ${c.instruction}`, `Question: ${question}`, ...(hint ? [`Hint: ${hint}`] : [])],
    [`Response 1: ${first}`, `Response 2: ${second}`, c.reminder, `Answer in exactly this form: "${ANSWER_FORM}"`],
  );
}

export function reasoningCheckPrompt(question: string, caption: string, reasoning: string): JudgePrompt {
  return judgePrompt(
    ["The following description of an image is trusted and correct.", `Description: ${caption}`, `Question: ${question}`],
    [
      `Reasoning: ${reasoning}`,
      "Is this reasoning, including any calculation in it, correct? Explain briefly, then write your verdict alone on the last line: correct or incorrect.",
    ],
  );
}

export const FORCED_VERDICT_PREFIX = "Verdict:";

/** "I choose response 1" → 0, "… 2" → 1; the last such phrase counts; anything else → null. */
export function parseChoice(raw: string): 0 | 1 | null {
  const matches = [...raw.matchAll(/choose\s+response\s*\[?\s*([12])\b/gi)];
  const last = matches.at(-1);
  return last ? (last[1] === "1" ? 0 : 1) : null;
}

/** The verdict word on the answer's last non-empty line, case-insensitive; anything else → null. */
export function parseVerdict(raw: string): "correct" | "incorrect" | null {
  const lines = raw.split("\n").map((l) => l.trim()).filter(Boolean);
  const last = lines.at(-1)?.toLowerCase().replace(/[^a-z]/g, " ").trim() ?? "";
  const words = last.split(/\s+/);
  if (words.includes("incorrect")) return "incorrect";
  if (words.includes("correct")) return "correct";
  return null;
}
