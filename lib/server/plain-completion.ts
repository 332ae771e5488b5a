// A chat completion without staged reasoning: the messages rendered with the model's chat template,
// evaluated on the shared context (forking from the prefix cache where an earlier request had the same
// start), then one sequence generated with the request's sampling, token by token.
import { randomInt } from "node:crypto";
import type { ContentPart } from "../chat-template.js";
import type { Context } from "../context.js";
import type { Model } from "../model.js";
import type { ChatRequest } from "./chat-request.js";
import type { Completion } from "./completion.js";
import { StopHoldback } from "./stop-holdback.js";

export interface PlainCompletionInput {
  model: Model;
  context: Context;
  request: ChatRequest;
  /** The request's images as bytes, in the order they appear in the messages. */
  images: Uint8Array[];
  /** The server's --chat-template, instead of the model's own. */
  template?: string;
  signal: AbortSignal;
}

export function plainCompletion(input: PlainCompletionInput): Completion {
  const { model, context, request, images, signal } = input;
  return async (emit) => {
    const prompt = model.applyChatTemplate(
      request.messages.map((m) => ({
        role: m.role,
        content: m.content.map((p): ContentPart => (p.type === "text" ? p : { type: "image" })),
      })),
      { template: input.template },
    );
    // One sequence of the context for this request: wait while searches and other requests hold them all.
    const release = await context.reserveSequences(1, signal);
    try {
      const sequence = await context.createSequenceFrom(images.length > 0 ? { prompt, images } : prompt, {
        signal,
        sampling: {
          temperature: request.temperature ?? 1,
          topP: request.topP,
          seed: request.seed ?? randomInt(2 ** 32),
          frequencyPenalty: request.frequencyPenalty,
          presencePenalty: request.presencePenalty,
        },
      });
      try {
        // Positions the prompt took: those in the cache, and the last token, kept pending until generation.
        const promptTokens = sequence.position + (sequence.state.pending === null ? 0 : 1);
        const holdback = new StopHoldback(request.stop);
        const generation = context.generate([sequence], { maxTokens: request.maxTokens ?? context.contextSize, stop: request.stop, signal });
        for await (const event of generation) {
          const text = holdback.push(event.text);
          if (text) emit({ content: text });
        }
        const [result] = await generation.result();
        const rest = holdback.finish(result!.text);
        if (rest) emit({ content: rest });
        return {
          finishReason: result!.stopReason === "maxTokens" || result!.stopReason === "contextFull" ? "length" : "stop",
          promptTokens,
          completionTokens: result!.tokens.length,
        };
      } finally {
        await sequence.dispose();
      }
    } finally {
      release();
    }
  };
}
