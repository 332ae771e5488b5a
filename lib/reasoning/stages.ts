// The four-stage answer format of LLaVA-CoT: <SUMMARY>, <CAPTION>, <REASONING>, <CONCLUSION>, in order,
// separated by a blank line, with a space inside each tag boundary. Only CONCLUSION is the answer a
// user sees; the other stages are the hidden trace.
export const STAGES = ["SUMMARY", "CAPTION", "REASONING", "CONCLUSION"] as const;
export type Stage = (typeof STAGES)[number];

export const openTag = (stage: Stage) => `<${stage}>`;
export const closeTag = (stage: Stage) => `</${stage}>`;

/** Text that starts a stage: the blank line between stages (none before the first), then the tag. */
export function stageOpening(stage: Stage): string {
  return `${stage === "SUMMARY" ? "" : "\n\n"}${openTag(stage)} `;
}

export interface ParsedStage {
  /** The text between the stage's tags, trimmed. */
  content: string;
  /** Both tags present, in order. */
  wellFormed: boolean;
  /** What was wrong, when not well formed. */
  problem?: string;
}

/**
 * Extracts a stage's inner text from generated text. Robust to a missing closing tag (the text runs to
 * the end), a missing opening tag (the whole text, when it has no tags at all — a model that ignored the
 * format; nothing when other stages are tagged) and stray text around; each is reported as a problem,
 * never thrown.
 */
export function parseStage(text: string, stage: Stage): ParsedStage {
  const open = text.indexOf(openTag(stage));
  if (open < 0 && STAGES.some((s) => text.includes(openTag(s)))) {
    // Another stage is there, this one is not: nothing of it to take.
    return { content: "", wellFormed: false, problem: `missing ${openTag(stage)}` };
  }
  const close = text.indexOf(closeTag(stage), open < 0 ? 0 : open);
  const start = open < 0 ? 0 : open + openTag(stage).length;
  const end = close < 0 ? text.length : close;
  const content = text.slice(start, Math.max(start, end)).trim();
  const problems: string[] = [];
  if (open < 0) problems.push(`missing ${openTag(stage)}`);
  if (close < 0) problems.push(`missing ${closeTag(stage)}`);
  if (content.length === 0) problems.push("empty");
  for (const other of STAGES) {
    if (other !== stage && content.includes(openTag(other))) problems.push(`contains ${openTag(other)}`);
  }
  return problems.length === 0 ? { content, wellFormed: true } : { content, wellFormed: false, problem: problems.join(", ") };
}

/** All four stages of a complete answer. */
export function parseAnswer(text: string): Record<Stage, ParsedStage> {
  const out = {} as Record<Stage, ParsedStage>;
  for (const stage of STAGES) out[stage] = parseStage(text, stage);
  return out;
}

/**
 * Follows a token stream and knows which stage it is in: the stage whose opening tag came last. Works on
 * newly generated text only (tags in the prompt do not count), as chunks arrive.
 */
export class StageTracker {
  #text = "";
  #current: Stage | null = null;
  #closed = new Set<Stage>();

  push(chunk: string): void {
    const from = Math.max(0, this.#text.length - 16);
    this.#text += chunk;
    const window = this.#text.slice(from);
    for (const stage of STAGES) {
      if (window.includes(openTag(stage))) this.#current = stage;
      if (window.includes(closeTag(stage))) this.#closed.add(stage);
    }
  }

  get current(): Stage | null {
    return this.#current;
  }

  closed(stage: Stage): boolean {
    return this.#closed.has(stage);
  }

  get text(): string {
    return this.#text;
  }
}

/**
 * A GBNF grammar that forces one stage's structure: the opening tag, bounded free text without tags, the
 * closing tag. Models not trained on the format (and random-weight test models) then always produce a
 * parseable stage within `maxChars` characters of content.
 */
export function stageGrammar(stage: Stage, maxChars = 400): string {
  const opening = JSON.stringify(stageOpening(stage));
  return [
    `root ::= ${opening} content " ${closeTag(stage)}"`,
    `content ::= [^<>\\n]{1,${maxChars}}`,
  ].join("\n");
}
