// The JSON objects of OpenAI's chat completion API: the whole response (`chat.completion`) and the
// streamed chunks (`chat.completion.chunk`). Reasoning goes out as `reasoning_content` (DeepSeek's and
// llama-server's name) mirrored to `reasoning` (OpenRouter's and vLLM's), so either kind of client reads it.
import { randomUUID } from "node:crypto";
import type { CompletionDelta, CompletionOutcome } from "./completion.js";

export interface CompletionMeta {
  id: string;
  created: number;
  model: string;
}

export function completionMeta(model: string): CompletionMeta {
  return { id: `chatcmpl-${randomUUID().replaceAll("-", "")}`, created: Math.floor(Date.now() / 1000), model };
}

function usage(outcome: CompletionOutcome) {
  return {
    prompt_tokens: outcome.promptTokens,
    completion_tokens: outcome.completionTokens,
    total_tokens: outcome.promptTokens + outcome.completionTokens,
  };
}

export function completionBody(meta: CompletionMeta, content: string, reasoning: string | null, outcome: CompletionOutcome) {
  return {
    id: meta.id,
    object: "chat.completion" as const,
    created: meta.created,
    model: meta.model,
    choices: [
      {
        index: 0,
        message: { role: "assistant" as const, content, ...(reasoning === null ? {} : { reasoning_content: reasoning, reasoning }), refusal: null },
        logprobs: null,
        finish_reason: outcome.finishReason,
      },
    ],
    usage: usage(outcome),
  };
}

export function completionChunk(meta: CompletionMeta, delta: CompletionDelta & { role?: "assistant" }, finishReason: CompletionOutcome["finishReason"] | null = null) {
  const { reasoning, ...rest } = delta;
  return {
    id: meta.id,
    object: "chat.completion.chunk" as const,
    created: meta.created,
    model: meta.model,
    choices: [{ index: 0, delta: reasoning === undefined ? rest : { ...rest, reasoning_content: reasoning, reasoning }, logprobs: null, finish_reason: finishReason }],
  };
}

/** The last chunk when the client asked for stream_options.include_usage: no choices, only usage. */
export function usageChunk(meta: CompletionMeta, outcome: CompletionOutcome) {
  return { id: meta.id, object: "chat.completion.chunk" as const, created: meta.created, model: meta.model, choices: [], usage: usage(outcome) };
}
