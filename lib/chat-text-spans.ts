// Where the text of chat messages lands in a rendered chat template, so it can be marked plain text
// (MarkedPrompt.plainText) while the template's own special tokens are parsed.
//
// Searching the rendered prompt for the text would be fooled by exactly the inputs this is for: a question
// "<|eot_id|>" is also found in the template's own `<|eot_id|>`. Instead the messages are rendered a second
// time with a unique sentinel in place of each text: the sentinels give the template's fixed text between
// the messages, and the prompt must be that fixed text with each message's text (as written, or trimmed,
// as many templates do) in between. A template that renders anything else (changes the text, or changes
// its own text with the content) gives no spans: the caller then fails safe (chat-prompt.ts).
import { randomBytes } from "node:crypto";
import type { ChatMessage, ContentPart } from "./engine/chat-message.js";
import type { TextSpan } from "./engine/prompt-input.js";

/** The texts of `messages`, in order (a string content, or each text part). */
export function messageTexts(messages: readonly ChatMessage[]): string[] {
  return messages.flatMap((m) => (typeof m.content === "string" ? [m.content] : m.content.flatMap((p) => (p.type === "text" ? [p.text] : []))));
}

function withTexts(messages: readonly ChatMessage[], text: (index: number) => string): ChatMessage[] {
  let index = 0;
  return messages.map((m) => ({
    ...m,
    content: typeof m.content === "string" ? text(index++) : m.content.map((p): ContentPart => (p.type === "text" ? { type: "text", text: text(index++) } : p)),
  }));
}

/**
 * The span of each message text in `rendered` (= render(messages)), in order; null when the template does
 * not place them verbatim (or trimmed) between its own fixed text.
 */
export function locateMessageTexts(render: (messages: ChatMessage[]) => string, messages: readonly ChatMessage[], rendered: string): TextSpan[] | null {
  const texts = messageTexts(messages);
  if (texts.length === 0) return [];
  let nonce: string;
  do nonce = `stagebeam${randomBytes(6).toString("hex")}`;
  while (rendered.includes(nonce) || texts.some((t) => t.includes(nonce)));
  const sentinel = (i: number) => `${nonce}_${i}_`;
  const skeleton = render(withTexts(messages, sentinel));
  // The template's fixed text: before the first sentinel, between each two, after the last.
  const fixed: string[] = [];
  let from = 0;
  for (let i = 0; i < texts.length; i++) {
    const at = skeleton.indexOf(sentinel(i), from);
    if (at < 0 || skeleton.indexOf(sentinel(i), at + 1) >= 0) return null;
    fixed.push(skeleton.slice(from, at));
    from = at + sentinel(i).length;
  }
  fixed.push(skeleton.slice(from));
  if (fixed.some((f) => f.includes(nonce)) || !rendered.startsWith(fixed[0]!)) return null;

  const spans: TextSpan[] = [];
  let at = fixed[0]!.length;
  for (const [i, text] of texts.entries()) {
    const after = fixed[i + 1]!;
    const last = i === texts.length - 1;
    const written = [text, text.trim(), text.trimStart(), text.trimEnd()].find((candidate) =>
      last ? rendered.length === at + candidate.length + after.length && rendered.endsWith(after) && rendered.startsWith(candidate, at) : rendered.startsWith(candidate + after, at),
    );
    if (written === undefined) return null;
    spans.push({ start: at, end: at + written.length });
    at += written.length + after.length;
  }
  return spans;
}
