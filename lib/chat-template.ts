// Renders a model's chat template (the GGUF's tokenizer.chat_template, a Jinja template) with
// @huggingface/jinja, the renderer transformers.js uses, so templates behave as they do in Python.
// Falls back to llama.cpp's built-in renderer for templates the Jinja library cannot parse.
import { Template } from "@huggingface/jinja";
import type { ChatMessage, ContentPart } from "./engine/chat-message.js";
import { createError } from "./errors.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { ChatMessage, ContentPart };

/** libmtmd's default media marker (mtmd_default_marker()). */
export const DEFAULT_MEDIA_MARKER = "<__media__>";

/** A message's content as template text: images become media markers, in place. */
export function contentText(content: ChatMessage["content"], marker: string): string {
  if (typeof content === "string") return content;
  return content.map((part) => (part.type === "image" ? marker : part.text)).join("");
}

interface RenderedMessage {
  role: string;
  content: string;
}

export interface ChatTemplateInput {
  template: string;
  messages: RenderedMessage[];
  addGenerationPrompt: boolean;
  bosToken: string;
  eosToken: string;
  /** llama.cpp's renderer, tried when the Jinja renderer fails. */
  fallback: (template: string, messages: RenderedMessage[], addGenerationPrompt: boolean) => string | null;
}

const compiled = new Map<string, Template>();

export function renderChatTemplate(input: ChatTemplateInput): string {
  let jinjaError: unknown;
  try {
    let template = compiled.get(input.template);
    if (!template) {
      template = new Template(input.template);
      compiled.set(input.template, template);
    }
    return template.render({
      messages: input.messages,
      add_generation_prompt: input.addGenerationPrompt,
      bos_token: input.bosToken,
      eos_token: input.eosToken,
    });
  } catch (error) {
    jinjaError = error;
  }
  const rendered = input.fallback(input.template, input.messages, input.addGenerationPrompt);
  if (rendered !== null) return rendered;
  throw createError(
    "INVALID_ARGUMENT",
    `the chat template could not be rendered (${(jinjaError as Error)?.message ?? "unknown error"}) and llama.cpp does not recognise it: pass a template explicitly`,
    jinjaError,
  );
}
