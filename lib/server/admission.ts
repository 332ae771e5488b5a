// How many requests run at once, and how many may wait for a turn. Past the queue's bound a request is
// refused at once with 429 and Retry-After, rather than piling up behind work it would time out waiting
// for. (Inside its turn a request may still wait for KV sequences another request holds: the context's
// own reservations, which searches and plain completions share.)
import { Semaphore } from "../semaphore.js";
import { HttpError } from "./http-error.js";

export class Admission {
  readonly #slots: Semaphore;
  readonly #maxQueue: number;
  #waiting = 0;
  #running = 0;

  constructor(parallel: number, maxQueue: number) {
    this.#slots = new Semaphore(parallel);
    this.#maxQueue = maxQueue;
  }

  /** Requests waiting for a turn. */
  get waiting(): number {
    return this.#waiting;
  }

  /** Requests in their turn, running. */
  get running(): number {
    return this.#running;
  }

  /** Waits for a turn; resolves with the function that ends it. Throws 429 when the queue is full. */
  async enter(signal: AbortSignal): Promise<() => void> {
    if (this.#slots.available === 0 && this.#waiting >= this.#maxQueue) {
      throw new HttpError(429, "rate_limit_error", "queue_full", `the server is busy: ${this.#waiting} requests are already waiting; retry shortly`, {
        "retry-after": "1",
      });
    }
    this.#waiting += 1;
    let release: () => void;
    try {
      release = await this.#slots.acquire(1, signal);
    } finally {
      this.#waiting -= 1;
    }
    this.#running += 1;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#running -= 1;
      release();
    };
  }
}
