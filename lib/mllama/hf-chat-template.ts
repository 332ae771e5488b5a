// The chat template of a Hugging Face checkpoint, from the first of the places transformers looks:
// chat_template.jinja, chat_template.json ("chat_template"), tokenizer_config.json ("chat_template", a
// string or a list of named templates of which "default" is taken).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createError } from "../errors.js";

function fromJson(path: string, key: string): string | undefined {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (error) {
    throw createError("INVALID_CHECKPOINT", `${path} is not readable JSON (${(error as Error).message})`, error);
  }
  const value = json[key];
  if (typeof value === "string") return value;
  if (Array.isArray(value)) {
    const named = value as { name?: unknown; template?: unknown }[];
    const template = (named.find((t) => t.name === "default") ?? named[0])?.template;
    if (typeof template === "string") return template;
  }
  return undefined;
}

/** The template text, or null when the checkpoint has none. */
export function readChatTemplate(dir: string): string | null {
  const jinja = join(dir, "chat_template.jinja");
  if (existsSync(jinja)) return readFileSync(jinja, "utf8");
  for (const file of ["chat_template.json", "tokenizer_config.json"]) {
    const path = join(dir, file);
    if (existsSync(path)) {
      const template = fromJson(path, "chat_template");
      if (template !== undefined) return template;
    }
  }
  return null;
}
