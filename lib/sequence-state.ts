// What a Sequence knows about its part of the KV cache: its text tokens, how many positions are written,
// the pending last token, and its sampler.
//
// The fields change only through the named transitions below, each describing one thing that just
// happened to the cache (the caller — Sequence, Context, generate(), the prefix cache — does the cache
// work first). That keeps the pending-last-token invariant (see sequence.ts) in one place: every
// transition leaves `pending` and `nPast` describing the cache as it is.
import type { NativeSampler } from "./native.js";

/** The parts of a state that an evaluation puts back when it fails (the sampler is not among them). */
export interface SavedSequenceState {
  readonly tokens: readonly number[];
  readonly nPast: number;
  readonly pending: number | null;
  readonly endsWithMedia: boolean;
}

export class SequenceState {
  #tokens: number[];
  #nPast: number;
  #pending: number | null;
  #sampler: NativeSampler;
  #endsWithMedia: boolean;

  constructor(sampler: NativeSampler, from: SavedSequenceState = { tokens: [], nPast: 0, pending: null, endsWithMedia: false }) {
    this.#sampler = sampler;
    this.#tokens = [...from.tokens];
    this.#nPast = from.nPast;
    this.#pending = from.pending;
    this.#endsWithMedia = from.endsWithMedia;
  }

  /** Every text token, prompt and generated (images occupy positions, not tokens). */
  get tokens(): readonly number[] {
    return this.#tokens;
  }

  /** Next position to write in the KV cache (tokens already in the cache). */
  get nPast(): number {
    return this.#nPast;
  }

  /** The last token, kept out of the cache so the next step decodes it; null when nothing is pending. */
  get pending(): number | null {
    return this.#pending;
  }

  get sampler(): NativeSampler {
    return this.#sampler;
  }

  /** The last thing evaluated was an image: there is no text token to generate from yet. */
  get endsWithMedia(): boolean {
    return this.#endsWithMedia;
  }

  /** Text was evaluated: `written` positions went into the cache and `pending` (or nothing) is held back. */
  appendText(added: readonly number[], written: number, pending: number | null): void {
    this.#nPast += written;
    this.#pending = pending;
    this.#tokens.push(...added);
    if (added.length > 0) this.#endsWithMedia = false;
  }

  /** A generation step: the pending token is now in the cache, and the sampled one becomes pending. */
  appendSampled(token: number): void {
    this.#nPast += 1;
    this.#pending = token;
    this.#tokens.push(token);
  }

  /** The pending token was written to the cache (before an image goes in after it). */
  writePending(): void {
    this.#nPast += 1;
    this.#pending = null;
  }

  /** An image was decoded into the cache; the sequence now reaches position `nPast`. */
  appendImage(nPast: number): void {
    this.#nPast = nPast;
    this.#endsWithMedia = true;
  }

  /** The last written token was removed from the cache and is pending again (after reading logprobs). */
  reopenLast(): void {
    this.#nPast -= 1;
    this.#pending = this.#tokens[this.#tokens.length - 1]!;
  }

  /**
   * The cache was cut back to `nPast` positions holding the first `textTokens` tokens; when the kept
   * part ends in text, its last token is pending (so `nPast` does not count it).
   */
  rewind(textTokens: number, nPast: number, endsWithText: boolean): void {
    this.#tokens = this.#tokens.slice(0, textTokens);
    this.#nPast = nPast;
    this.#pending = endsWithText ? this.#tokens[textTokens - 1]! : null;
    this.#endsWithMedia = !endsWithText;
  }

  snapshot(): SavedSequenceState {
    return { tokens: [...this.#tokens], nPast: this.#nPast, pending: this.#pending, endsWithMedia: this.#endsWithMedia };
  }

  /** Back to a snapshot (the cache was cut back to match); the current sampler stays. */
  restore(saved: SavedSequenceState): void {
    this.#tokens = [...saved.tokens];
    this.#nPast = saved.nPast;
    this.#pending = saved.pending;
    this.#endsWithMedia = saved.endsWithMedia;
  }

  /** The state of a fork: the same tokens and positions, and a clone of the sampler (grammar state included). */
  fork(): SequenceState {
    return new SequenceState(this.#sampler.clone(), this);
  }

  /** Uses `sampler` from now on, freeing the one it replaces. */
  replaceSampler(sampler: NativeSampler): void {
    this.#sampler.dispose();
    this.#sampler = sampler;
  }

  /** Frees the sampler (the sequence is gone). */
  dispose(): void {
    this.#sampler.dispose();
  }
}
