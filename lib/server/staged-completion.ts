// A chat completion by staged reasoning: model.reason() on the last user message (its text the question,
// its image the image). SUMMARY, CAPTION and REASONING are the reasoning, the CONCLUSION the content.
// Streamed as the search decides each stage (its stage-winner events), so reasoning arrives a stage at a
// time; the conclusion comes once decided.
import type { Context } from "../context.js";
import type { Model } from "../model.js";
import { closeTag, openTag, parseStage, STAGES, type Stage } from "../reasoning/stages.js";
import type { ReasonResult } from "../reasoning/trace.js";
import type { ChatRequest } from "./chat-request.js";
import type { Completion } from "./completion.js";
import { badRequest } from "./http-error.js";
import type { StagedSettings } from "./reasoning-settings.js";

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

/** The stages that are reasoning, not answer. */
const REASONING_STAGES = STAGES.filter((s) => s !== "CONCLUSION");

/** One stage as reasoning text: tagged, as LLaVA-CoT writes it; stages apart by a blank line. */
function stageBlock(stage: Stage, content: string): string {
  return `${stage === "SUMMARY" ? "" : "\n\n"}${openTag(stage)} ${content} ${closeTag(stage)}`;
}

export function reasoningText(stages: Record<Stage, string>): string {
  return REASONING_STAGES.map((s) => stageBlock(s, stages[s])).join("");
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
    let sent = "";
    let next = 0; // index into REASONING_STAGES of the stage to stream next
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
      onEvent: (event) => {
        // In stage order only: after a restart (context full, search started over) stages come again.
        if (event.type !== "stage-winner" || event.kind !== REASONING_STAGES[next]) return;
        const block = stageBlock(event.kind, parseStage(event.text, event.kind).content);
        next += 1;
        sent += block;
        emit({ reasoning: block });
      },
    });
    // Whatever the events did not carry (strategies without stage winners, or a restart that decided
    // differently — then only what extends what was sent).
    const reasoning = reasoningText(result.stages);
    if (reasoning.startsWith(sent) && reasoning.length > sent.length) emit({ reasoning: reasoning.slice(sent.length) });
    emit({ content: result.conclusion });
    const conclusion = result.tree.candidates.filter((c) => c.kind === "CONCLUSION" && c.won).at(-1);
    return {
      finishReason: conclusion?.closedAtBudget ? "length" : "stop",
      promptTokens: result.counts.promptTokens,
      // Every token the search sampled as answer text, all candidates (not its judges' answers).
      completionTokens: result.tree.candidates.reduce((sum, c) => sum + c.tokens, 0),
    };
  };
}

