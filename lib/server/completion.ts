// What running one chat request gives, whichever way it runs (plain generation or staged reasoning):
// deltas as they come, then how it ended and what it cost. The response writers (JSON or SSE) consume it.

export interface CompletionDelta {
  content?: string;
  /** Reasoning text (staged reasoning's SUMMARY, CAPTION and REASONING). */
  reasoning?: string;
}

export interface CompletionOutcome {
  finishReason: "stop" | "length";
  promptTokens: number;
  completionTokens: number;
}

/** Runs the request, calling `emit` with each delta in order; resolves when it is complete. */
export type Completion = (emit: (delta: CompletionDelta) => void) => Promise<CompletionOutcome>;
