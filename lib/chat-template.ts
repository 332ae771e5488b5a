// Renders a model's chat template (the GGUF's tokenizer.chat_template, a Jinja template) with
// @huggingface/jinja, the renderer transformers.js uses, so templates behave as they do in Python.
// Falls back to llama.cpp's built-in renderer for templates the Jinja library cannot parse.
import { Template } from "@huggingface/jinja";
import type { ChatMessage, ContentPart } from "./engine/chat-message.js";
import { createError } from "./errors.js";
import { renderWithBudget } from "./jinja-budget.js";
// Defined by the engine contract (lib/engine); re-exported for code that imports them from here.
export type { ChatMessage, ContentPart };

/** libmtmd's default media marker (mtmd_default_marker()). */
export const DEFAULT_MEDIA_MARKER = "<__media__>";

/** A message's content as template text: images become media markers, in place. */
export function contentText(content: ChatMessage["content"], marker: string): string {
  if (typeof content === "string") return content;
  return content.map((part) => (part.type === "image" ? marker : part.text)).join("");
}

/** What a template sees of a content part: images carry no data, only their place. */
export type TemplatePart = { type: "image" } | { type: "text"; text: string };

interface RenderedMessage {
  role: string;
  /**
   * Text with media markers in place of images, or the parts themselves for templates that place the
   * images (Llama 3.2 Vision's emits `<|image|>` and drops its system block when a message has one).
   */
  content: string | TemplatePart[];
}

/** Parts a template can read, from a message's content. */
export function templateParts(content: ChatMessage["content"]): TemplatePart[] {
  if (typeof content === "string") return [{ type: "text", text: content }];
  return content.map((part) => (part.type === "image" ? { type: "image" } : { type: "text", text: part.text }));
}

export interface ChatTemplateInput {
  template: string;
  /** `template` is a name llama.cpp's renderer knows ("chatml"): render with it, not as Jinja text. */
  named?: boolean;
  messages: RenderedMessage[];
  addGenerationPrompt: boolean;
  bosToken: string;
  eosToken: string;
  /** Further template variables (e.g. Llama 3.x's `date_string`, to render the same prompt every day). */
  variables?: Record<string, unknown>;
  /** llama.cpp's renderer, tried when the Jinja renderer fails; it takes text only. */
  fallback: (template: string, messages: { role: string; content: string }[], addGenerationPrompt: boolean) => string | null;
}

const compiled = new Map<string, Template>();

function renderJinja(input: ChatTemplateInput): string {
  let template = compiled.get(input.template);
  if (!template) {
    template = new Template(input.template);
    compiled.set(input.template, template);
  }
  return renderWithBudget(template, {
    ...input.variables,
    messages: input.messages,
    add_generation_prompt: input.addGenerationPrompt,
    bos_token: input.bosToken,
    eos_token: input.eosToken,
  });
}

export function renderChatTemplate(input: ChatTemplateInput): string {
  let jinjaError: unknown;
  // A name ("chatml") is also valid Jinja that renders as itself: names go to llama.cpp's renderer only.
  if (!input.named) {
    try {
      return renderJinja(input);
    } catch (error) {
      jinjaError = error;
    }
  }
  const flat = input.messages.map((m) => ({
    role: m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((part) => (part.type === "text" ? part.text : "")).join(""),
  }));
  const rendered = input.fallback(input.template, flat, input.addGenerationPrompt);
  if (rendered !== null) return rendered;
  throw createError(
    "INVALID_ARGUMENT",
    `the chat template could not be rendered (${(jinjaError as Error)?.message ?? "unknown error"}) and llama.cpp does not recognise it: pass a template explicitly`,
    jinjaError,
  );
}
