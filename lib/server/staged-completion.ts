// A chat completion by staged reasoning: model.reason() on the last user message (its text the question,
// its image the image). SUMMARY, CAPTION and REASONING are the reasoning, the CONCLUSION the content
// (cut before the first stop string, if the request has any). Streamed as the search runs
// (lib/server/staged-stream.ts): a stage with one live candidate token by token, a searched stage once
// decided; a request that is not streamed gets the result alone.
import type { Context } from "../context.js";
import type { Model } from "../model.js";
import type { ReasonResult } from "../reasoning/trace.js";
import type { ChatRequest } from "./chat-request.js";
import type { Completion } from "./completion.js";
import { badRequest } from "./http-error.js";
import type { StagedSettings } from "./reasoning-settings.js";
import { cutAtStop, reasoningText, StagedStream } from "./staged-stream.js";


export interface StagedCompletionInput {
  model: Model;
  context: Context;
  request: ChatRequest;
  settings: StagedSettings;
  /** The last user message's image, if it has one. */
  image?: Uint8Array;
  template?: string;
  signal: AbortSignal;
}

/** The question: the last message's text parts, joined. */
export function questionOf(request: ChatRequest): string {
  const last = request.messages.at(-1)!;
  const question = last.content
    .filter((p) => p.type === "text")
    .map((p) => p.text)
    .join("\n")
    .trim();
  if (!question) throw badRequest("staged reasoning needs a question: the last user message has no text");
  return question;
}

export function stagedCompletion(input: StagedCompletionInput): Completion {
  const { model, context, request, settings, signal } = input;
  const question = questionOf(request);
  return async (emit) => {
    const perToken = settings.strategy === "single" || settings.strategy === "stage-beam";
    const stream = request.stream ? new StagedStream(emit, request.stop, settings.forceStructure === "prefill", perToken) : null;
    const result: ReasonResult = await model.reason({
      context,
      question,
      image: input.image,
      ...settings,
      temperature: request.temperature,
      topP: request.topP,
      seed: request.seed,
      template: input.template,
      signal,
      onEvent: stream ? (event) => stream.onEvent(event) : undefined,
    });
    const answer = cutAtStop(result.conclusion, request.stop);
    if (stream) {
      stream.finish(result.stages);
    } else {
      emit({ reasoning: reasoningText(result.stages) });
      emit({ content: answer.text });
    }
    const conclusion = result.tree.candidates.filter((c) => c.kind === "CONCLUSION" && c.won).at(-1);
    return {
      finishReason: !answer.stopped && conclusion?.closedAtBudget ? "length" : "stop",
      promptTokens: result.counts.promptTokens,
      // Every token the search sampled as answer text, all candidates (not its judges' answers).
      completionTokens: result.tree.candidates.reduce((sum, c) => sum + c.tokens, 0),
    };
  };
}
