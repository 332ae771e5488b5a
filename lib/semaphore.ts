// A counting semaphore with FIFO waiters and abortable waits: searches reserve the sequences they may
// need at once, and wait their turn when another search holds them, instead of failing.
import { AbortError } from "./errors.js";

export class Semaphore {
  #available: number;
  readonly #waiters: { n: number; grant: () => void; signal?: AbortSignal; onAbort?: () => void }[] = [];

  constructor(readonly capacity: number) {
    this.#available = capacity;
  }

  get available(): number {
    return this.#available;
  }

  /** Resolves with a release function once `n` units are free (in arrival order). */
  acquire(n: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(new AbortError());
    return new Promise((resolve, reject) => {
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        this.#available += n;
        this.#drain();
      };
      const waiter = { n, grant: () => resolve(release), signal, onAbort: undefined as (() => void) | undefined };
      waiter.onAbort = () => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        reject(new AbortError());
        this.#drain();
      };
      signal?.addEventListener("abort", waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
      this.#drain();
    });
  }

  #drain(): void {
    while (this.#waiters.length > 0 && this.#waiters[0]!.n <= this.#available) {
      const waiter = this.#waiters.shift()!;
      this.#available -= waiter.n;
      if (waiter.onAbort) waiter.signal?.removeEventListener("abort", waiter.onAbort);
      waiter.grant();
    }
  }
}
