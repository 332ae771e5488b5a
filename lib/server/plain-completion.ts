// A chat completion without staged reasoning: the messages rendered with the model's chat template,
// evaluated on the shared context (forking from the prefix cache where an earlier request had the same
// start), then one sequence generated with the request's sampling, token by token.
//
// The context's KV cells are shared with every other request and search, so a step can find them all
// held. Such a request takes part in the searches' protocol for that (lib/reasoning/room.ts): it waits
// until someone releases cells and goes on where it was, rather than failing. One that finds every other
// request and search waiting too gives its cells back, waits for one of them to finish, and evaluates its
// prompt and what it had generated again to go on (sampling afresh from there: a sampled request's RNG
// and penalties start over, a greedy one continues exactly). Only a request that does not fit alone in
// the context ends early: before its first token with context_length_exceeded, after with "length".
import { randomInt } from "node:crypto";
import { plainChatPrompt } from "../chat-prompt.js";
import type { ContentPart } from "../chat-template.js";
import type { Context } from "../context.js";
import { AbortError, StagebeamError } from "../errors.js";
import type { Model } from "../model.js";
import { enterRoom, restartLater, RestartSearch, withRoom } from "../reasoning/room.js";
import type { PromptInput } from "../prompt.js";
import type { SamplingOptions } from "../sampling.js";
import type { Sequence } from "../sequence.js";
import type { ChatRequest } from "./chat-request.js";
import type { Completion, CompletionDelta, CompletionOutcome } from "./completion.js";
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

const isContextFull = (error: unknown) => error instanceof StagebeamError && error.code === "CONTEXT_FULL";

export function plainCompletion(input: PlainCompletionInput): Completion {
  const { model, context, request, images, signal } = input;
  return async (emit) => {
    // Every message's text is the client's, so it stays plain text: a `<|eot_id|>` or media marker in it
    // cannot end a turn or claim an image (lib/chat-prompt.ts). The images come as image parts.
    const prompt: PromptInput = plainChatPrompt(
      model,
      request.messages.map((m) => ({
        role: m.role,
        content: m.content.map((p): ContentPart => (p.type === "text" ? p : { type: "image" })),
      })),
      { template: input.template, images, fix: "send that text without it" },
    );
    const sampling: SamplingOptions = {
      temperature: request.temperature ?? 1,
      topP: request.topP,
      seed: request.seed ?? randomInt(2 ** 32),
      frequencyPenalty: request.frequencyPenalty,
      presencePenalty: request.presencePenalty,
    };
    // One sequence of the context for this request: wait while searches and other requests hold them all.
    const release = await context.reserveSequences(1, signal);
    const leave = enterRoom(context);
    try {
      return await new PlainGeneration(context, prompt, sampling, request, signal, emit).run();
    } finally {
      leave();
      release();
    }
  };
}

class PlainGeneration {
  readonly #budget: number;
  /** Stop strings are found here, not by generate(): a generation resumed after a wait must still see one
   *  that began before it. */
  readonly #holdback: StopHoldback;
  readonly #generated: number[] = [];
  #text = "";
  #finish: CompletionOutcome["finishReason"] | null = null;
  #sequence: Sequence | null = null;

  constructor(
    private readonly context: Context,
    private readonly prompt: PromptInput,
    private readonly sampling: SamplingOptions,
    request: ChatRequest,
    private readonly signal: AbortSignal,
    private readonly emit: (delta: CompletionDelta) => void,
  ) {
    this.#budget = request.maxTokens ?? context.contextSize;
    this.#holdback = new StopHoldback(request.stop);
  }

  async run(): Promise<CompletionOutcome> {
    try {
      this.#sequence = await this.#build();
      // Positions the prompt took: those in the cache, and the last token, kept pending until generation.
      const promptTokens = this.#sequence.position + (this.#sequence.state.pending === null ? 0 : 1);
      while (this.#finish === null) {
        try {
          await withRoom(this.context, () => this.#generate(), async () => {});
        } catch (error) {
          if (isContextFull(error) && this.#generated.length > 0) {
            this.#finish = "length"; // alone, and the context is full
          } else if (error instanceof RestartSearch) {
            // Everyone waits for cells: give ours back, and resume once another request has finished.
            await this.#sequence.dispose();
            this.#sequence = null;
            await restartLater(this.context);
            this.#sequence = await this.#build();
          } else {
            throw error;
          }
        }
      }
      const holdback = this.#holdback;
      const last = holdback.finish(holdback.stopIndex === null ? this.#text : this.#text.slice(0, holdback.stopIndex));
      if (last) this.emit({ content: last });
      return { finishReason: this.#finish, promptTokens, completionTokens: this.#generated.length };
    } finally {
      await this.#sequence?.dispose();
    }
  }

  /** The request's sequence: its prompt (from the prefix cache where it can), then what it generated before. */
  async #build(): Promise<Sequence> {
    for (;;) {
      try {
        return await withRoom(
          this.context,
          async () => {
            const sequence = await this.context.createSequenceFrom(this.prompt, { signal: this.signal, sampling: this.sampling });
            try {
              if (this.#generated.length > 0) await sequence.evaluate(this.#generated, { signal: this.signal });
            } catch (error) {
              await sequence.dispose();
              throw error;
            }
            return sequence;
          },
          async () => {}, // a failed step disposed what it made
        );
      } catch (error) {
        if (!(error instanceof RestartSearch)) throw error;
        await restartLater(this.context);
      }
    }
  }

  /** Generates from where the last attempt stopped; a step that failed for want of cells left nothing behind. */
  async #generate(): Promise<void> {
    if (this.#generated.length >= this.#budget) {
      this.#finish = "length";
      return;
    }
    const stopped = new AbortController();
    const generation = this.context.generate([this.#sequence!], {
      maxTokens: this.#budget - this.#generated.length,
      signal: AbortSignal.any([this.signal, stopped.signal]),
    });
    try {
      for await (const event of generation) {
        this.#generated.push(event.token);
        this.#text += event.text;
        const out = this.#holdback.push(event.text);
        if (out) this.emit({ content: out });
        if (this.#holdback.stopIndex !== null) {
          this.#finish = "stop";
          stopped.abort(); // ends the generation at its next step, releasing the sequence
        }
      }
      const [result] = await generation.result();
      this.#finish = result!.stopReason === "eog" ? "stop" : "length";
    } catch (error) {
      if (!(error instanceof AbortError && stopped.signal.aborted && !this.signal.aborted)) throw error;
    }
  }
}
