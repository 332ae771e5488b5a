// Streaming a staged-reasoning search as it runs. A stage with one live candidate (strategy "single", or
// stage-beam at width 1) is streamed token by token: that candidate is the stage's text unless it turns out
// malformed. A searched stage (width > 1) is streamed once decided (its stage-winner event).
//
// Deltas are append-only, so only text the final result will begin with is sent: everything is computed
// as "the response so far" (the decided stages, then what the live candidate's text already fixes) and
// only what extends what was sent goes out. Held back: anything before the stage's opening tag, leading
// and trailing whitespace (the stage's text is trimmed), and a tail that may be the start of a tag or of
// a stop string. After a restart (the search started over) nothing goes out until the new run's text
// passes what was sent. Two things can still replace streamed text: a lone candidate that ends malformed
// (the search samples the stage again) and a restart that writes differently; then the streamed text is
// not the result, and the stream ends with an error frame rather than a response that contradicts itself.
import type { ReasonEvent } from "../reasoning/options.js";
import { closeTag, openTag, parseStage, STAGES, stageOpening, type Stage } from "../reasoning/stages.js";
import type { CompletionDelta } from "./completion.js";
import { HttpError } from "./http-error.js";

/** The stages that are reasoning, not answer. */
export const REASONING_STAGES = STAGES.filter((s) => s !== "CONCLUSION");

/** One stage as reasoning text: tagged, as LLaVA-CoT writes it; stages apart by a blank line. */
export function stageBlock(stage: Stage, content: string): string {
  return `${stageLead(stage)}${content} ${closeTag(stage)}`;
}

/** What a stage's block begins with, whatever its content: fixed once the stage is reached. */
function stageLead(stage: Stage): string {
  return `${stage === "SUMMARY" ? "" : "\n\n"}${openTag(stage)} `;
}

export function reasoningText(stages: Record<Stage, string>): string {
  return REASONING_STAGES.map((s) => stageBlock(s, stages[s])).join("");
}

/** The answer before the first stop string (the whole answer without one), and whether one cut it. */
export function cutAtStop(text: string, stops: readonly string[]): { text: string; stopped: boolean } {
  let at = -1;
  for (const stop of stops) {
    const i = text.indexOf(stop);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
}

/** How much of `text` can no longer be cut by a stop string, whatever follows it. */
function beforeStops(text: string, stops: readonly string[]): string {
  let end = cutAtStop(text, stops).text.length;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > 0; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        end = Math.min(end, text.length - n);
        break;
      }
    }
  }
  return text.slice(0, end);
}

const TAGS = STAGES.flatMap((s) => [openTag(s), closeTag(s)]);

/**
 * The start of a stage's content that its candidate's text so far fixes, whatever the candidate writes
 * next — provided it ends well formed. Empty before the opening tag.
 */
export function settledContent(text: string, stage: Stage): string {
  const open = text.indexOf(openTag(stage));
  if (open < 0) return "";
  const body = text.slice(open + openTag(stage).length);
  if (body.includes(closeTag(stage))) return parseStage(text, stage).content;
  // A tail that may become a tag: the closing one ends the content, another one makes it malformed.
  let end = body.length;
  const lt = body.lastIndexOf("<");
  if (lt >= 0 && TAGS.some((tag) => tag.startsWith(body.slice(lt)))) end = lt;
  // Another stage's tag: this candidate is malformed (it will be sampled again); nothing from there on.
  for (const tag of TAGS) {
    if (tag === openTag(stage)) continue; // written twice is still well formed
    const at = body.indexOf(tag);
    if (at >= 0) end = Math.min(end, at);
  }
  return body.slice(0, end).trim();
}

interface Sent {
  reasoning: string;
  content: string;
}

/** The stage being written by a lone candidate, and that candidate's text so far. */
interface LiveStage {
  stage: Stage;
  text: string;
}

export class StagedStream {
  readonly #sent: Sent = { reasoning: "", content: "" };
  /** The current run's decided stages (a restart starts them over). */
  #decided: Partial<Record<Stage, string>> = {};
  #live: LiveStage | null = null;
  /** Streamed text the search has since replaced: nothing more goes out, and the end says so. */
  #superseded = false;

  constructor(
    private readonly emit: (delta: CompletionDelta) => void,
    private readonly stops: readonly string[],
    /** The search prefills each stage's opening tag (its candidates' tokens do not include it). */
    private readonly prefilled: boolean,
    /** Lone candidates are streamed per token only where their text is the stage's (single, stage-beam). */
    private readonly perToken: boolean,
  ) {}

  onEvent(event: ReasonEvent): void {
    switch (event.type) {
      case "restart":
        this.#decided = {};
        this.#live = null;
        return;
      case "stage-start": {
        const stage = STAGES.find((s) => s === event.kind);
        this.#live = this.perToken && stage && event.candidates === 1 ? { stage, text: this.prefilled ? stageOpening(stage) : "" } : null;
        return;
      }
      case "candidate-token":
        if (!this.#live || event.kind !== this.#live.stage) return;
        this.#live.text += event.text;
        break;
      case "candidate-done":
        // A malformed lone candidate is sampled again: what it fixed is void.
        if (this.#live && event.kind === this.#live.stage && !event.valid) this.#live.text = this.prefilled ? stageOpening(this.#live.stage) : "";
        return;
      case "stage-winner": {
        const stage = STAGES.find((s) => s === event.kind);
        if (!stage) return;
        this.#decided[stage] = parseStage(event.text, stage).content;
        this.#live = null;
        break;
      }
      default:
        return;
    }
    this.#extend(this.#sofar());
  }

  /** The end: the rest of the result; an error if the result does not extend what was streamed. */
  finish(stages: Record<Stage, string>): void {
    const reasoning = reasoningText(stages);
    const content = cutAtStop(stages.CONCLUSION, this.stops).text;
    if (!reasoning.startsWith(this.#sent.reasoning) || !content.startsWith(this.#sent.content)) {
      throw new HttpError(
        503,
        "server_error",
        "reasoning_superseded",
        "the search replaced reasoning it had already streamed (a malformed stage was sampled again, or the search started over when the shared context filled): send the request again, or with stream: false, or with stagebeam.forceStructure \"grammar\" (every stage well formed as it streams)",
      );
    }
    this.#superseded = false;
    this.#extend({ reasoning, content });
  }

  /** The response as far as the current run fixes it. */
  #sofar(): Sent {
    let reasoning = "";
    for (const stage of REASONING_STAGES) {
      const decided = this.#decided[stage];
      if (decided !== undefined) {
        reasoning += stageBlock(stage, decided);
        continue;
      }
      if (this.#live?.stage === stage) {
        const content = settledContent(this.#live.text, stage);
        if (content) reasoning += stageLead(stage) + content;
      }
      return { reasoning, content: "" };
    }
    const conclusion = this.#decided.CONCLUSION ?? (this.#live?.stage === "CONCLUSION" ? settledContent(this.#live.text, "CONCLUSION") : "");
    return { reasoning, content: this.#decided.CONCLUSION === undefined ? beforeStops(conclusion, this.stops) : cutAtStop(conclusion, this.stops).text };
  }

  #extend(next: Sent): void {
    if (this.#superseded) return;
    const channels = ["reasoning", "content"] as const;
    // Behind what was sent (a restarted run replaying it): wait. A different text: superseded.
    if (channels.some((c) => !next[c].startsWith(this.#sent[c]))) {
      if (channels.some((c) => !next[c].startsWith(this.#sent[c]) && !this.#sent[c].startsWith(next[c]))) this.#superseded = true;
      return;
    }
    for (const channel of channels) {
      const rest = next[channel].slice(this.#sent[channel].length);
      if (!rest) continue;
      this.#sent[channel] += rest;
      this.emit(channel === "reasoning" ? { reasoning: rest } : { content: rest });
    }
  }
}
