// A FIFO async lock. Each Sequence has one, so operations on a sequence (evaluate, fork, generate,
// dispose) see its state only after the previous operation finished updating it.
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves with a release function once every earlier holder has released. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ready = this.#tail.then(() => release);
    this.#tail = this.#tail.then(() => held);
    return ready;
  }

  async run<T>(body: () => Promise<T> | T): Promise<T> {
    const release = await this.acquire();
    try {
      return await body();
    } finally {
      release();
    }
  }
}

/** Holds several locks at once, taken in a fixed order (by key) so two callers cannot deadlock. */
export async function runLocked<T>(locks: { key: number; mutex: Mutex }[], body: () => Promise<T>): Promise<T> {
  const ordered = [...locks].sort((a, b) => a.key - b.key);
  const releases: (() => void)[] = [];
  try {
    for (const lock of ordered) releases.push(await lock.mutex.acquire());
    return await body();
  } finally {
    for (const release of releases.reverse()) release();
  }
}
