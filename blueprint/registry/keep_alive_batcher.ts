/**
 * Coalesces lease renewals on a follower: every renewal asked for while a batch is in flight
 * joins the next one, so N processes beating on a follower cost about one call to the leader
 * per round trip instead of N.
 *
 * @module
 */

/** Most leases one batch carries. */
export const MAX_BATCH_LEASES = 4096;
/** Most renewals waiting at once; more are refused (the beat fails and is retried). */
export const MAX_WAITING_RENEWALS = 65_536;

/** Sends one batch; answers each lease's TTL in seconds (0 = gone), in order. */
export type SendBatch = (lease_ids: number[]) => Promise<number[]>;

/**
 * Batches renewals through `send`, one batch in flight at a time.
 *
 * @example
 * ```ts
 * const batcher = new KeepAliveBatcher(async (ids) => ids.map(() => 10));
 * await batcher.renew(7); // 10
 * ```
 */
export class KeepAliveBatcher {
  readonly #send: SendBatch;
  #waiting = new Map<
    number,
    { resolve: (ttl_s: number) => void; reject: (e: unknown) => void }[]
  >();
  #waiting_count = 0;
  #flushing = false;

  /**
   * Makes a batcher.
   *
   * @param send sends one batch to the leader
   */
  constructor(send: SendBatch) {
    this.#send = send;
  }

  /** Renews lease `id`; resolves with its TTL in seconds, 0 when it is gone. */
  renew(id: number): Promise<number> {
    if (this.#waiting_count >= MAX_WAITING_RENEWALS) {
      return Promise.reject(new Error(`more than ${MAX_WAITING_RENEWALS} renewals waiting`));
    }
    return new Promise((resolve, reject) => {
      const waiters = this.#waiting.get(id) ?? [];
      waiters.push({ resolve, reject });
      this.#waiting.set(id, waiters);
      this.#waiting_count++;
      if (!this.#flushing) {
        this.#flushing = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    // Bounded: each turn takes at least one waiting lease off the map.
    while (this.#waiting.size > 0) {
      const batch = new Map<
        number,
        { resolve: (ttl_s: number) => void; reject: (e: unknown) => void }[]
      >();
      for (const [id, waiters] of this.#waiting) {
        if (batch.size >= MAX_BATCH_LEASES) break;
        batch.set(id, waiters);
      }
      for (const [id, waiters] of batch) {
        this.#waiting.delete(id);
        this.#waiting_count -= waiters.length;
      }
      const ids = [...batch.keys()];
      try {
        const ttls = await this.#send(ids);
        if (ttls.length !== ids.length) {
          throw new Error(`the leader answered ${ttls.length} TTLs for ${ids.length} leases`);
        }
        ids.forEach((id, i) => batch.get(id)!.forEach((waiter) => waiter.resolve(ttls[i])));
      } catch (error) {
        for (const waiters of batch.values()) waiters.forEach((waiter) => waiter.reject(error));
      }
    }
    this.#flushing = false;
  }
}
