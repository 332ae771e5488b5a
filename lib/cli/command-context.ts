// The context `run`, `serve` and `eval` reason on, made the same way for each: the chat template checked
// first (so a model without one fails before any cells are allocated, with an error that names the CLI
// flag), then a context of up to 8192 cells (or --context-size) with room for a search's candidates and
// judges, and a prefix cache so the judges fork the image prefix instead of evaluating it again.
import type { Context } from "../context.js";
import { createError } from "../errors.js";
import type { Model } from "../model.js";
import { missingChatTemplateMessage } from "./chat-template-option.js";

export interface CommandContextOptions {
  chatTemplate?: string;
  contextSize?: number;
  threads?: number;
  /** Cached prefixes kept (`serve` keeps more: its requests come from many clients). */
  prefixSequences: number;
}

export async function createCommandContext(model: Model, o: CommandContextOptions): Promise<Context> {
  if (!o.chatTemplate && !model.metadata.chatTemplate) throw createError("NO_CHAT_TEMPLATE", missingChatTemplateMessage());
  return model.createContext({
    contextSize: o.contextSize ?? Math.min(8192, model.metadata.contextLength || 8192),
    sequences: 64,
    threads: o.threads,
    prefixCache: { sequences: o.prefixSequences },
  });
}
