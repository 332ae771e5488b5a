// Sharing KV cells among concurrent searches on one context.
//
// A search step that finds the cache full while other searches run undoes what the step made, waits
// until another search releases cells (finishes, or restarts), and runs the step again — seeded, so it
// draws the same tokens. If every other search is waiting too, no one can move: the search that notices
// gives back everything it holds and starts over once another search has finished (RestartSearch), so
// the others can go on. A search that is alone and still does not fit fails with CONTEXT_FULL: no amount
// of waiting would help it.
import type { EngineContext } from "../engine/types.js";
import { StagebeamError } from "../errors.js";

interface Room {
  active: number;
  /** Searches waiting for cells, holding what they have. */
  waitingForCells: number;
  /** Restarted searches, holding nothing, waiting for another search to finish. */
  waitingForFinish: number;
  onRelease: (() => void)[];
  onFinish: (() => void)[];
}

const rooms = new WeakMap<EngineContext, Room>();

function room(engine: EngineContext): Room {
  let r = rooms.get(engine);
  if (!r) {
    r = { active: 0, waitingForCells: 0, waitingForFinish: 0, onRelease: [], onFinish: [] };
    rooms.set(engine, r);
  }
  return r;
}

function wake(list: (() => void)[]): void {
  for (const resolve of list.splice(0)) resolve();
}

/** Thrown inside a search that must give back its cells and start over; reason() handles it. */
export class RestartSearch extends Error {}

/** Marks a search active on `engine`; call the result when it ends. */
export function enterRoom(engine: EngineContext): () => void {
  const r = room(engine);
  r.active++;
  return () => {
    r.active--;
    wake(r.onFinish);
    wake(r.onRelease);
  };
}

/**
 * After a RestartSearch: say the cells are back, then wait until another search has finished — unless
 * no other search can finish (all restarted too), in which case go at once.
 */
export async function restartLater(engine: EngineContext): Promise<void> {
  const r = room(engine);
  wake(r.onRelease);
  if (r.active - 1 - r.waitingForFinish === 0) return;
  r.waitingForFinish++;
  try {
    await new Promise<void>((resolve) => r.onFinish.push(resolve));
  } finally {
    r.waitingForFinish--;
  }
}

const isContextFull = (error: unknown) => error instanceof StagebeamError && error.code === "CONTEXT_FULL";

/** Runs `step`, undoing and retrying it while the context is full because of other searches. */
export async function withRoom<T>(engine: EngineContext, step: () => Promise<T>, undo: () => Promise<void>): Promise<T> {
  const r = room(engine);
  for (;;) {
    try {
      return await step();
    } catch (error) {
      if (!isContextFull(error)) throw error;
      await undo();
      const others = r.active - 1;
      // Alone, or the others hold nothing (restarted): it does not fit.
      if (others === r.waitingForFinish) throw error;
      // Everyone else is waiting too: give everything back and start over later.
      if (others - r.waitingForCells - r.waitingForFinish === 0) throw new RestartSearch("the context is full and every other search waits");
      r.waitingForCells++;
      try {
        await new Promise<void>((resolve) => r.onRelease.push(resolve));
      } finally {
        r.waitingForCells--;
      }
    }
  }
}
