// Remembers evaluated prompt prefixes (image content ids + tokens) in spare sequences of a context, so a
// second question about the same image, or a judge that needs image + question, forks from the cache
// instead of evaluating — and encoding — them again.
//
// Bounded: at most `sequences` cached prompts and `cells` KV cells held by them; the least recently used
// goes first. Eviction only disposes the cache's own sequence: sequences forked from it keep their cells.
//
// A cached prompt is reused in full, or up to the end of an image in it — never cut inside text. The
// cells of a reused prefix are then exactly those a fresh evaluation would compute (same batches), so a
// result never depends on what the cache happened to hold; only images are expensive to redo anyway.
import type { Context } from "./context.js";
import { Mutex } from "./mutex.js";
import type { PromptInput } from "./engine/prompt-input.js";
import type { SamplingOptions } from "./engine/sampling-options.js";
import { itemWidths, preparePrompt, promptItems } from "./prompt.js";
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
  /** Forks being taken from it now: it is not evicted or reused meanwhile. */
  forks: number;
}

export interface AcquireOptions {
  sampling?: SamplingOptions;
  signal?: AbortSignal;
  parseSpecial?: boolean;
  /** Keep this prompt in the cache afterwards (default true). One-off prompts (judges) only reuse. */
  remember?: boolean;
}

export class PrefixCache {
  readonly #context: Context;
  readonly #maxSequences: number;
  readonly #maxCells: number;
  readonly #entries: Entry[] = [];
  readonly #mutex = new Mutex();
  /** Prompts being evaluated now, so a concurrent caller whose prompt shares an image waits and reuses. */
  readonly #inFlight = new Set<{ items: string[]; done: Promise<void> }>();
  /** Prompts being copied into the cache now (see #rememberInBackground). */
  readonly #copying = new Set<Promise<void>>();
  /** Sequence ids the cache holds: its entries, and evicted ones not yet given back. */
  #held = 0;
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

    const remember = options.remember !== false;
    let finished!: () => void;
    const flight = { items, done: new Promise<void>((resolve) => (finished = resolve)) };
    let started: { sequence: Sequence; reused: number };
    try {
      started = await this.#startWhenReady(items, remember ? flight : null);
    } catch (error) {
      // Prompts waiting for this one must not wait for ever (e.g. the context was disposed meanwhile).
      this.#inFlight.delete(flight);
      finished();
      throw error;
    }
    const { sequence, reused } = started;
    // Prompts waiting on this one go on once it is in the cache (or known not to be).
    let cached: Promise<void> = Promise.resolve();
    try {
      if (options.sampling) sequence.setSampling(options.sampling);
      await sequence.lock.run(() => sequence.evaluatePrepared(prepared, reused, { signal: options.signal }));
      this.reusedItems += reused;
      if (reused < items.length && remember) cached = this.#rememberInBackground(sequence, items, widths);
    } catch (error) {
      await sequence.dispose();
      throw error;
    } finally {
      void cached.then(() => {
        this.#inFlight.delete(flight);
        finished();
      });
    }
    return sequence;
  }

  /**
   * Forks from the cache — after waiting for any prompt in flight that would let this one skip an image
   * the cache cannot serve yet (text is cheap to evaluate again; an image encode is not).
   */
  async #startWhenReady(items: string[], flight: { items: string[]; done: Promise<void> } | null): Promise<{ sequence: Sequence; reused: number }> {
    for (;;) {
      // (The promise to wait for is wrapped: returned bare from the locked section, it would be adopted
      // and the lock held until it settles — which needs the lock.)
      const blocker = await this.#mutex.run(() => {
        const cached = Math.max(0, ...this.#entries.map((e) => reusable(e.items, items)));
        for (const other of this.#inFlight) {
          const shared = reusable(other.items, items);
          if (items.slice(cached, shared).some((item) => item.startsWith("i"))) return { until: other.done };
        }
        if (flight) this.#inFlight.add(flight);
        return null;
      });
      if (!blocker) return this.#mutex.run(() => this.#startFromCache(items));
      await blocker.until;
    }
  }

  /** Disposes every cached sequence (after the copies under way). */
  async clear(): Promise<void> {
    await Promise.all(this.#copying);
    await this.#mutex.run(async () => {
      while (this.#entries.length > 0) await this.#evict();
    });
  }

  async #startFromCache(items: string[]): Promise<{ sequence: Sequence; reused: number }> {
    let best: Entry | null = null;
    let bestLength = 0;
    for (const entry of this.#entries) {
      const length = reusable(entry.items, items);
      if (length > bestLength || (length === bestLength && best !== null && length > 0 && entry.lastUsed > best.lastUsed)) {
        best = entry;
        bestLength = length;
      }
    }
    if (!best || bestLength === 0) return { sequence: this.#context.createSequence(), reused: 0 };
    best.lastUsed = ++this.#clock;
    best.forks += 1;
    let sequence: Sequence;
    try {
      sequence = await best.sequence.fork();
    } finally {
      best.forks -= 1;
    }
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
    sequence.state.rewind(textTokens, keep, lastIsText);
  }

  /**
   * Keeps `sequence`'s prompt without holding its caller up: the copy runs at the next gap between
   * steps, ahead of every queued job and so of anything the caller queues next (it holds the prompt
   * alone), and the caller goes on meanwhile.
   * (Awaited, as it was, each new request waited a batch step for it, one request after another behind
   * the cache's lock: eight concurrent requests joined the batch one a step, so its first steps carried
   * 1, 2, 3 … sequences instead of 8, and stagebeam serve took ~40% more steps than llama-server.)
   * When the copy runs, a full cache gives it the least recently used entry's id (never one being forked).
   * Never rejects: a prompt that could not be cached is only not cached.
   */
  #rememberInBackground(sequence: Sequence, items: string[], widths: number[]): Promise<void> {
    if (this.#maxSequences <= 0) return Promise.resolve();
    // What the copy took when its turn came: a free id, or an entry's (spliced out of the list then).
    let took: "new" | "entry" | null = null;
    const into = (): Sequence | "new" | null => {
      if (this.#held < this.#maxSequences) {
        if (this.#context.freeSequences === 0) return null; // every id is in use by callers: do without caching
        took = "new";
        return "new";
      }
      const oldest = leastRecentlyUsed(this.#entries.filter((e) => e.forks === 0));
      if (!oldest) return null;
      this.#entries.splice(this.#entries.indexOf(oldest), 1);
      took = "entry";
      return oldest.sequence;
    };
    // In the copy's own turn, so that the next copy's into() counts it.
    const keep = (cached: Sequence) => {
      if (took === "new") this.#held += 1;
      this.#entries.push({ sequence: cached, items, widths, lastUsed: ++this.#clock, forks: 0 });
    };
    const copying = this.#context.forkInBackground(sequence, into, keep).then(
      async (cached) => {
        if (cached === null) return;
        await this.#mutex.run(async () => {
          while (this.#entries.length > 1 && this.#cells() > this.#maxCells) await this.#evict();
        });
      },
      () => {
        // The context was disposed, or the copy failed: nothing was cached, and an entry whose id the
        // copy took is gone with its cells.
        if (took === "entry") this.#held -= 1;
      },
    );
    const tracked = copying.finally(() => this.#copying.delete(tracked));
    this.#copying.add(tracked);
    return tracked;
  }

  #cells(): number {
    return this.#entries.reduce((sum, entry) => sum + this.#context.ledger.heldBy(entry.sequence.id), 0);
  }

  async #evict(): Promise<void> {
    const entry = leastRecentlyUsed(this.#entries)!;
    this.#entries.splice(this.#entries.indexOf(entry), 1);
    await entry.sequence.dispose();
    this.#held -= 1;
  }
}

/** The entry used longest ago (the first of equals), or undefined for none. */
function leastRecentlyUsed(entries: readonly Entry[]): Entry | undefined {
  return entries.reduce<Entry | undefined>((oldest, e) => (oldest === undefined || e.lastUsed < oldest.lastUsed ? e : oldest), undefined);
}

function commonPrefix(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

/** How much of cached prompt `cached` can serve `wanted`: all of it if equal, else up to its last shared image. */
function reusable(cached: readonly string[], wanted: readonly string[]): number {
  const common = commonPrefix(cached, wanted);
  if (common === cached.length && common === wanted.length) return common;
  for (let n = common; n > 0; n--) if (cached[n - 1]!.startsWith("i")) return n;
  return 0;
}

