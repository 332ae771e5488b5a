// A chat prompt whose message texts are plain text: rendered with the chat template, each message's text
// marked (MarkedPrompt.plainText) so that special-token text or a media marker a user wrote stays text.
// Used for every prompt that carries what a caller or user wrote: reason()'s question and its judges, and
// the server's messages.
import type { ChatMessage } from "./engine/chat-message.js";
import type { ImageInput, MarkedPrompt } from "./engine/prompt-input.js";
import { locateMessageTexts, messageTexts } from "./chat-text-spans.js";
import { createError } from "./errors.js";
import { holdsSpecialText } from "./plain-text.js";

/** What rendering needs of an engine (EngineContext, Context and Model all have it). */
export interface ChatRenderer {
  applyChatTemplate(messages: ChatMessage[], options?: { addGenerationPrompt?: boolean; template?: string }): string;
  tokenize(text: string, options?: { addSpecial?: boolean; parseSpecial?: boolean }): number[];
}

export interface PlainChatPromptOptions {
  template?: string;
  images?: ImageInput[];
  /** What the caller can do when the texts cannot be kept plain (named in the error), e.g. an option. */
  fix: string;
}

/**
 * The messages rendered, their texts marked plain. When the template does not keep the texts as written,
 * their place is unknown: that is fine for texts without special-token text (nothing to keep plain), and
 * an INVALID_ARGUMENT otherwise — never silently parsed.
 */
export function plainChatPrompt(renderer: ChatRenderer, messages: ChatMessage[], options: PlainChatPromptOptions): MarkedPrompt {
  const render = (m: ChatMessage[]) => renderer.applyChatTemplate(m, { template: options.template });
  const prompt = render(messages);
  const images = options.images ?? [];
  const spans = locateMessageTexts(render, messages, prompt);
  if (spans) return { prompt, images, plainText: spans };
  const special = messageTexts(messages).find((text) => holdsSpecialText((t, o) => renderer.tokenize(t, o), text));
  if (special !== undefined) {
    throw createError(
      "INVALID_ARGUMENT",
      `this chat template changes the message text it renders, so the special-token text in ${JSON.stringify(special.slice(0, 60))} cannot be kept as plain text: ` +
        `remove it, or ${options.fix}`,
    );
  }
  return { prompt, images };
}
