// Finds stop strings in newly generated text as it grows, looking only at the new text plus enough of
// the old to catch a stop string that straddles tokens — never at the prompt.
export interface StopMatch {
  stop: string;
  /** Where the stop string starts in the generated text. */
  index: number;
}

export class StopDetector {
  readonly #stops: string[];
  readonly #longest: number;
  #text = "";

  constructor(stops: readonly string[]) {
    this.#stops = stops.filter((stop) => stop.length > 0);
    this.#longest = Math.max(0, ...this.#stops.map((stop) => stop.length));
  }

  /** Appends generated text; returns the earliest stop string that now appears, if any. */
  push(chunk: string): StopMatch | null {
    if (this.#stops.length === 0 || chunk.length === 0) {
      this.#text += chunk;
      return null;
    }
    const from = Math.max(0, this.#text.length - this.#longest + 1);
    this.#text += chunk;
    let best: StopMatch | null = null;
    for (const stop of this.#stops) {
      const index = this.#text.indexOf(stop, from);
      if (index >= 0 && (best === null || index < best.index)) best = { stop, index };
    }
    return best;
  }
}
