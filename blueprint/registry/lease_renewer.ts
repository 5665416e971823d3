/**
 * A follower's record of which process leases were beaten since the last renewal: beats are
 * answered at once from the member's own view, and the leader learns "these leases are alive"
 * once per interval, in batches. Leases the leader reports gone are remembered, so the next
 * beat of their process takes the slow path (a new lease and a record write).
 *
 * The decisions are pure (no timer, no socket): the caller runs {@link LeaseRenewer.flush}
 * on its own interval with the function that reaches the leader.
 *
 * @module
 */

/** Most leases one renewal call carries (the leader refuses more). */
export const MAX_BATCH_LEASES = 4096;
/** Most leases waiting for a renewal; beats beyond it are refused (and retried). */
export const MAX_PENDING_LEASES = 200_000;
/** Most leases remembered as gone; the oldest are forgotten first. */
export const MAX_GONE_LEASES = 65_536;
/** Most renewal calls of one flush, so one flush is bounded too. */
export const MAX_CALLS_PER_FLUSH = Math.ceil(MAX_PENDING_LEASES / MAX_BATCH_LEASES);

/** Renews `lease_ids` on the leader; answers each one's TTL in seconds (0 = gone), in order. */
export type RenewLeases = (lease_ids: number[]) => Promise<number[]>;

/**
 * Collects beaten leases and renews them in batches.
 *
 * @example
 * ```ts
 * const renewer = new LeaseRenewer();
 * renewer.touch(7);
 * await renewer.flush(async (ids) => ids.map(() => 10));
 * renewer.isGone(7); // false
 * ```
 */
export class LeaseRenewer {
  #pending = new Set<number>();
  readonly #gone = new Set<number>();
  #flushing = false;

  /** Leases waiting for the next flush. */
  get pending(): number {
    return this.#pending.size;
  }

  /**
   * Records a beat of lease `lease_id`. Throws when {@link MAX_PENDING_LEASES} are waiting
   * (the leader has been unreachable for long; the beat fails and its process retries).
   */
  touch(lease_id: number): void {
    if (!Number.isSafeInteger(lease_id) || lease_id <= 0) {
      throw new RangeError(`lease id ${lease_id}; a positive integer is required`);
    }
    if (this.#pending.size >= MAX_PENDING_LEASES && !this.#pending.has(lease_id)) {
      throw new RangeError(`more than ${MAX_PENDING_LEASES} leases waiting for the leader`);
    }
    this.#pending.add(lease_id);
  }

  /** Whether the leader reported `lease_id` gone at a renewal since it was last granted. */
  isGone(lease_id: number): boolean {
    return this.#gone.has(lease_id);
  }

  /** Forgets that `lease_id` was gone (a beat replaced it with a new lease). */
  forget(lease_id: number): void {
    this.#gone.delete(lease_id);
  }

  /**
   * Sends every waiting lease through `renew`, {@link MAX_BATCH_LEASES} per call. Leases of a
   * failed call wait for the next flush; leases answered with TTL 0 are remembered as gone.
   * A flush while another runs does nothing. Resolves with the number of leases renewed.
   */
  async flush(renew: RenewLeases): Promise<number> {
    if (this.#flushing || this.#pending.size === 0) return 0;
    this.#flushing = true;
    const taken = [...this.#pending];
    this.#pending = new Set();
    let renewed = 0;
    try {
      for (
        let call = 0;
        call < MAX_CALLS_PER_FLUSH && call * MAX_BATCH_LEASES < taken.length;
        call++
      ) {
        const ids = taken.slice(call * MAX_BATCH_LEASES, (call + 1) * MAX_BATCH_LEASES);
        let ttls: number[];
        try {
          ttls = await renew(ids);
          if (ttls.length !== ids.length) {
            throw new Error(`the leader answered ${ttls.length} TTLs for ${ids.length} leases`);
          }
        } catch (error) {
          // Unsent leases wait for the next flush (the set bounds them).
          for (const id of taken.slice(call * MAX_BATCH_LEASES)) this.#pending.add(id);
          throw error;
        }
        ids.forEach((id, i) => {
          if (ttls[i] > 0) renewed++;
          else this.#markGone(id);
        });
      }
      return renewed;
    } finally {
      this.#flushing = false;
    }
  }

  #markGone(lease_id: number): void {
    if (this.#gone.size >= MAX_GONE_LEASES) {
      const oldest = this.#gone.values().next().value;
      if (oldest !== undefined) this.#gone.delete(oldest);
    }
    this.#gone.add(lease_id);
  }
}
