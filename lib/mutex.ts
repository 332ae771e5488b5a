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

/**
 * Takes several locks, in a fixed order (by key) so two callers cannot deadlock; resolves with one
 * function releasing them all.
 */
export async function lockAll(locks: { key: number; mutex: Mutex }[]): Promise<() => void> {
  const ordered = [...locks].sort((a, b) => a.key - b.key);
  const releases: (() => void)[] = [];
  for (const lock of ordered) releases.push(await lock.mutex.acquire());
  return () => {
    for (const release of releases.reverse()) release();
  };
}
