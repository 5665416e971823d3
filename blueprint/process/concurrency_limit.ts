/**
 * A bound on calls in flight, with a bounded queue behind it: many processes sharing one
 * transport (a fleet joining at once) send their Initialize calls a few at a time instead of
 * all at once, so a join storm queues on the client rather than piling onto the members.
 *
 * @module
 */

/**
 * Runs at most `max_in_flight` tasks at once; the rest wait in arrival order, at most
 * `max_waiting` of them.
 *
 * @example
 * ```ts
 * const limit = new ConcurrencyLimit(16, 10_000);
 * const result = await limit.run(() => fetch("http://127.0.0.1:8080/"));
 * ```
 */
export class ConcurrencyLimit {
  readonly #max_in_flight: number;
  readonly #max_waiting: number;
  readonly #waiting: (() => void)[] = [];
  #in_flight = 0;

  /**
   * Makes a limit.
   *
   * @param max_in_flight tasks running at once, at least 1
   * @param max_waiting tasks queued behind them, at least 0
   */
  constructor(max_in_flight: number, max_waiting: number) {
    if (!Number.isSafeInteger(max_in_flight) || max_in_flight < 1) {
      throw new RangeError(`max_in_flight is ${max_in_flight}; allowed: an integer >= 1`);
    }
    if (!Number.isSafeInteger(max_waiting) || max_waiting < 0) {
      throw new RangeError(`max_waiting is ${max_waiting}; allowed: an integer >= 0`);
    }
    this.#max_in_flight = max_in_flight;
    this.#max_waiting = max_waiting;
  }

  /** Tasks running now. */
  get in_flight(): number {
    return this.#in_flight;
  }

  /** Tasks waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Runs `task` once a slot is free; rejects at once when the queue is full.
   *
   * @param task the work; its result or rejection is passed on
   */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#in_flight >= this.#max_in_flight) {
      if (this.#waiting.length >= this.#max_waiting) {
        throw new RangeError(
          `${this.#max_in_flight} calls in flight and ${this.#max_waiting} waiting; retry later`,
        );
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#in_flight++;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so in_flight never exceeds the bound.
      if (next) next();
      else this.#in_flight--;
    }
  }
}
