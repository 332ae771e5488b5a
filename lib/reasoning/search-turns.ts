// Reproducible mode. Concurrent searches on one context normally share batch steps (throughput), but
// llama.cpp's kernels round differently for different batch shapes and cache layouts, which can flip a
// near-tie between two tokens. On a context created with `shareBatches: false`, searches started through
// model.reason() take turns, one at a time, so each result equals the same call run alone.
import type { EngineContext } from "../engine/types.js";
import { Mutex } from "../mutex.js";

const turns = new WeakMap<EngineContext, Mutex>();

/** Runs `search` at once, or — on a context that does not share batches — after the searches before it. */
export function inTurn<T>(engine: EngineContext, search: () => Promise<T>): Promise<T> {
  if (engine.shareBatches !== false) return search();
  let turn = turns.get(engine);
  if (!turn) {
    turn = new Mutex();
    turns.set(engine, turn);
  }
  return turn.run(search);
}
