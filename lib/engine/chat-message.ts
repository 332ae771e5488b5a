// A chat message as callers write it; each engine renders messages with its model's template.

/** A part of a message: text, or an image (rendered as the projector's media marker). */
export type ContentPart = { type: "text"; text: string } | { type: "image" };

export interface ChatMessage {
  role: "system" | "user" | "assistant" | (string & {});
  content: string | ContentPart[];
}
