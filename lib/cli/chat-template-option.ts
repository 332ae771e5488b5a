// --chat-template NAME|FILE: a name llama.cpp's renderer knows ("chatml"), or a file holding a Jinja
// template. A file wins over a name, as llama.cpp's tools would read `--chat-template-file`.
import { readFileSync, statSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import { chatTemplateNames, isChatTemplateName } from "../chat-template-names.js";

export function chatTemplateArgument(value: string): string {
  if (statSync(value, { throwIfNoEntry: false })?.isFile()) {
    const text = readFileSync(value, "utf8");
    if (!text.trim()) throw new InvalidArgumentError(`--chat-template: ${value} is empty`);
    return text;
  }
  if (isChatTemplateName(value)) return value;
  throw new InvalidArgumentError(`--chat-template: "${value}" is neither a file nor a template name llama.cpp knows (${chatTemplateNames().join(", ")})`);
}

/** What the CLI says for a model whose file has no template and no --chat-template was given. */
export function missingChatTemplateMessage(): string {
  return `this model's file has no chat template: pass --chat-template NAME|FILE (a Jinja file, or one of: ${chatTemplateNames().join(", ")})`;
}
