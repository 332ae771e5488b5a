// Streaming with stop strings: text that might be the start of a stop string is held back until the next
// tokens show it is not, so a client never receives any of a stop string (OpenAI never sends it).

export class StopHoldback {
  #text = "";
  #sent = 0;
  #stopIndex: number | null = null;

  constructor(private readonly stops: readonly string[]) {}

  /** Where the first stop string begins in the text pushed, once one has appeared; null before. */
  get stopIndex(): number | null {
    return this.#stopIndex;
  }

  /** Adds generated text; returns what can be sent now (nothing more once a stop string appeared). */
  push(text: string): string {
    if (this.#stopIndex !== null) return "";
    this.#text += text;
    let end = this.#text.length;
    for (const stop of this.stops) {
      const at = this.#text.indexOf(stop, Math.max(0, this.#sent - stop.length + 1));
      if (at >= 0 && (this.#stopIndex === null || at < this.#stopIndex)) this.#stopIndex = at;
      for (let n = Math.min(stop.length - 1, this.#text.length); n > 0; n--) {
        if (this.#text.endsWith(stop.slice(0, n))) {
          end = Math.min(end, this.#text.length - n);
          break;
        }
      }
    }
    return this.#take(this.#stopIndex ?? end);
  }

  /** At the end: the rest of `finalText` (the generated text, cut before any stop string). */
  finish(finalText: string): string {
    this.#text = finalText;
    return this.#take(finalText.length);
  }

  #take(end: number): string {
    if (end <= this.#sent) return "";
    const out = this.#text.slice(this.#sent, end);
    this.#sent = end;
    return out;
  }
}
