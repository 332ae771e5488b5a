// Remembers evaluated prompt prefixes (image content ids + tokens) in spare sequences of a context, so a
// second question about the same image, or a judge that needs image + question, forks from the cache
// instead of evaluating — and encoding — them again.
//
// Bounded: at most `sequences` cached prompts and `cells` KV cells held by them; the least recently used
// goes first. Eviction only disposes the cache's own sequence: sequences forked from it keep their cells.
import type { Context } from "./context.js";
import { Mutex } from "./mutex.js";
import { itemWidths, preparePrompt, promptItems, type PromptInput } from "./prompt.js";
import type { SamplingOptions } from "./sampling.js";
import type { Sequence } from "./sequence.js";

export interface PrefixCacheOptions {
  /** Most prompts kept; each takes one of the context's sequences (default 2). */
  sequences?: number;
  /** Most KV cells the kept prompts may hold (default: half the context). */
  cells?: number;
}

interface Entry {
  sequence: Sequence;
  items: string[];
  /** Positions each item takes (1 per token; an image's positions). */
  widths: number[];
  lastUsed: number;
}

export interface AcquireOptions {
  sampling?: SamplingOptions;
  signal?: AbortSignal;
  parseSpecial?: boolean;
}

export class PrefixCache {
  readonly #context: Context;
  readonly #maxSequences: number;
  readonly #maxCells: number;
  readonly #entries: Entry[] = [];
  readonly #mutex = new Mutex();
  #clock = 0;
  /** Prompt items (tokens and images) served from the cache instead of evaluated. */
  reusedItems = 0;

  constructor(context: Context, options: PrefixCacheOptions) {
    this.#context = context;
    this.#maxSequences = options.sequences ?? 2;
    this.#maxCells = options.cells ?? Math.floor(context.contextSize / 2);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** A new sequence that has evaluated `input`, reusing the longest cached prefix of it. */
  async acquire(input: PromptInput, options: AcquireOptions = {}): Promise<Sequence> {
    const context = this.#context;
    const prepared = await preparePrompt(context.model, input, { addSpecial: true, parseSpecial: options.parseSpecial ?? true });
    const items = promptItems(prepared);
    const widths = itemWidths(prepared);

    const { sequence, reused } = await this.#mutex.run(() => this.#startFromCache(items));
    try {
      if (options.sampling) sequence.setSampling(options.sampling);
      await sequence.lock.run(() => sequence.evaluatePrepared(prepared, reused, { signal: options.signal }));
    } catch (error) {
      await sequence.dispose();
      throw error;
    }
    this.reusedItems += reused;
    if (reused < items.length) await this.#mutex.run(() => this.#remember(sequence, items, widths));
    return sequence;
  }

  /** Disposes every cached sequence. */
  async clear(): Promise<void> {
    await this.#mutex.run(async () => {
      while (this.#entries.length > 0) await this.#evict();
    });
  }

  async #startFromCache(items: string[]): Promise<{ sequence: Sequence; reused: number }> {
    let best: Entry | null = null;
    let bestLength = 0;
    for (const entry of this.#entries) {
      const length = commonPrefix(entry.items, items);
      if (length > bestLength || (length === bestLength && best !== null && length > 0 && entry.lastUsed > best.lastUsed)) {
        best = entry;
        bestLength = length;
      }
    }
    if (!best || bestLength === 0) return { sequence: this.#context.createSequence(), reused: 0 };
    best.lastUsed = ++this.#clock;
    const sequence = await best.sequence.fork();
    if (bestLength < best.items.length) await this.#rewind(sequence, best, bestLength);
    return { sequence, reused: bestLength };
  }

  /** Cuts a fork of `entry` back to its first `length` items, keeping the pending-last-token rule. */
  async #rewind(sequence: Sequence, entry: Entry, length: number): Promise<void> {
    const positions = entry.widths.slice(0, length).reduce((a, b) => a + b, 0);
    const textTokens = entry.items.slice(0, length).filter((item) => item.startsWith("t")).length;
    const lastIsText = entry.items[length - 1]!.startsWith("t");
    const keep = lastIsText ? positions - 1 : positions;
    await this.#context.truncate(sequence, keep);
    const state = sequence.state;
    state.tokens = state.tokens.slice(0, textTokens);
    state.nPast = keep;
    state.pending = lastIsText ? state.tokens[textTokens - 1]! : null;
    state.endsWithMedia = !lastIsText;
  }

  async #remember(sequence: Sequence, items: string[], widths: number[]): Promise<void> {
    if (this.#maxSequences <= 0) return;
    while (this.#entries.length >= this.#maxSequences) await this.#evict();
    if (this.#context.freeSequences === 0) return; // every id is in use by callers: do without caching
    const cached = await sequence.fork();
    this.#entries.push({ sequence: cached, items, widths, lastUsed: ++this.#clock });
    while (this.#entries.length > 1 && this.#cells() > this.#maxCells) await this.#evict();
  }

  #cells(): number {
    return this.#entries.reduce((sum, entry) => sum + this.#context.ledger.heldBy(entry.sequence.id), 0);
  }

  async #evict(): Promise<void> {
    let oldest = 0;
    this.#entries.forEach((entry, i) => {
      if (entry.lastUsed < this.#entries[oldest]!.lastUsed) oldest = i;
    });
    const [entry] = this.#entries.splice(oldest, 1);
    await entry!.sequence.dispose();
  }
}

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

