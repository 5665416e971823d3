/**
 * A bounded queue of encoded messages for one peer. When it is full new messages are dropped
 * and counted: Raft retries whatever matters, and an unbounded queue toward a dead peer would
 * eat the heap.
 *
 * @module
 */

/** Limits of an {@link OutboundQueue}. */
export interface OutboundQueueLimits {
  /** Most messages held. */
  max_messages: number;
  /** Most bytes held. */
  max_bytes: number;
}

/** Bounded FIFO of encoded messages with a wake-up for the writer. */
export class OutboundQueue {
  #items: Uint8Array[] = [];
  #head = 0;
  #bytes = 0;
  #waiter: (() => void) | null = null;
  /** Messages refused because the queue was full. */
  dropped = 0;

  /** @param limits see {@link OutboundQueueLimits} */
  constructor(readonly limits: OutboundQueueLimits) {
    if (!(limits.max_messages >= 1) || !(limits.max_bytes >= 1)) {
      throw new RangeError(
        `queue limits must be >= 1, got ${limits.max_messages} messages, ${limits.max_bytes} bytes`,
      );
    }
  }

  /** Messages held. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds a message; returns false (and counts a drop) when it does not fit. */
  push(message: Uint8Array): boolean {
    if (
      this.length >= this.limits.max_messages ||
      this.#bytes + message.length > this.limits.max_bytes
    ) {
      this.dropped++;
      return false;
    }
    this.#items.push(message);
    this.#bytes += message.length;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
    return true;
  }

  /**
   * Removes the oldest messages up to `max_bytes` in total (at least one if any), for one
   * batched write.
   */
  takeBatch(max_bytes: number): Uint8Array[] {
    const batch: Uint8Array[] = [];
    let bytes = 0;
    while (this.#head < this.#items.length) {
      const next = this.#items[this.#head];
      if (batch.length > 0 && bytes + next.length > max_bytes) break;
      batch.push(next);
      bytes += next.length;
      this.#head++;
    }
    this.#bytes -= bytes;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return batch;
  }

  /** Drops everything held (counted as dropped). */
  clear(): void {
    this.dropped += this.length;
    this.#items = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  /** Resolves when the queue is non-empty or {@link OutboundQueue.wake} is called. */
  waitNonEmpty(): Promise<void> {
    if (this.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const previous = this.#waiter;
      this.#waiter = () => {
        previous?.();
        resolve();
      };
    });
  }

  /** Wakes a waiting writer (used on shutdown). */
  wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}
