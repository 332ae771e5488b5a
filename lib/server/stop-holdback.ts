// Streaming with stop strings: text that might be the start of a stop string is held back until the next
// tokens show it is not, so a client never receives part of a stop string (OpenAI never sends any of it).

export class StopHoldback {
  #text = "";
  #sent = 0;

  constructor(private readonly stops: readonly string[]) {}

  /** Adds generated text; returns what can be sent now. */
  push(text: string): string {
    this.#text += text;
    let end = this.#text.length;
    for (const stop of this.stops) {
      const at = this.#text.indexOf(stop, Math.max(0, this.#sent - stop.length + 1));
      if (at >= 0) end = Math.min(end, at);
      for (let n = Math.min(stop.length - 1, this.#text.length); n > 0; n--) {
        if (this.#text.endsWith(stop.slice(0, n))) {
          end = Math.min(end, this.#text.length - n);
          break;
        }
      }
    }
    return this.#take(end);
  }

  /** At the end: the rest of `finalText` (the generation's text, cut before any stop string). */
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
