// The chat templates llama.cpp's own renderer knows by name ("chatml", "llama3", "gemma", …): what a user
// passes for a model whose file carries no template (base models, older conversions) — as llama.cpp's
// tools take `--chat-template NAME`.
import { nativeAddon } from "./native.js";

let names: readonly string[] | null = null;

export function chatTemplateNames(): readonly string[] {
  names ??= Object.freeze([...nativeAddon().chatTemplateNames()].sort());
  return names;
}

export function isChatTemplateName(template: string): boolean {
  return chatTemplateNames().includes(template);
}
