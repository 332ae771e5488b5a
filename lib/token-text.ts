// Turns a stream of token pieces (raw bytes) into text. A token can end in the middle of a UTF-8
// character, so bytes are held back until the character completes.
export class TokenTextDecoder {
  readonly #decoder = new TextDecoder("utf-8", { fatal: false });
  #text = "";

  /** Appends one piece; returns the text it completed (possibly ""). */
  push(piece: Uint8Array): string {
    const chunk = this.#decoder.decode(piece, { stream: true });
    this.#text += chunk;
    return chunk;
  }

  /** Flushes bytes of an unfinished character (as U+FFFD). */
  end(): string {
    const chunk = this.#decoder.decode();
    this.#text += chunk;
    return chunk;
  }

  get text(): string {
    return this.#text;
  }
}
