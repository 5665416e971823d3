/**
 * The producing end of a ring.
 *
 * @module
 */
import { ChannelClosedError } from "./errors.ts";
import {
  advance,
  CONTINUATION,
  dataOffset,
  freeBytes,
  MAX_MESSAGE_BYTES,
  neededFreeBytes,
  planFragment,
  RECORD_HEADER_BYTES,
  recordBytes,
  RingState,
  Slot,
} from "./ring_layout.ts";
import {
  attachEndpoint,
  deadlineFor,
  recordSlot,
  remainingMs,
  ringViews,
  throwIfAborted,
  throwIfPast,
  waitAsync,
  waitBlocking,
} from "./ring_access.ts";

/** Most `send` calls that may wait at once on one sender; more is a caller bug (unbounded). */
export const MAX_PENDING_SENDS = 4096;

/** Most records written in one step before re-checking state; bounds the hot loop. */
const MAX_RECORDS_PER_STEP = 64;

/** How far a message has been written. */
interface SendProgress {
  /** Payload bytes of the message already in the ring. */
  offset_bytes: number;
  /** True until the first record of the message is written. */
  first: boolean;
}

/**
 * The producing end of a ring: one per ring, used from one isolate.
 *
 * Messages are copied into the ring; the caller may reuse its buffer once `trySend` or
 * `sendBlocking` returns, or once the promise of `send` settles.
 *
 * @example
 * ```ts
 * const sender = new RingSender(ring);
 * if (!sender.trySend(bytes)) await sender.send(bytes, 1_000); // waits for the consumer
 * sender.close(); // the receiver gets null after draining
 * ```
 */
export class RingSender {
  readonly #slots: Int32Array;
  readonly #data: Uint8Array;
  readonly #capacity_bytes: number;
  /** This side is the only writer of TAIL, so it keeps the true value locally. */
  #tail: number;
  /** Last HEAD seen; re-read only when it says there is not enough room. */
  #head_seen: number;
  #closing = false;
  #pending_sends = 0;
  #queue_tail: Promise<void> = Promise.resolve();

  /**
   * Becomes the producer of `ring`.
   *
   * @param ring a buffer from createRing; exactly one RingSender may use it
   * @throws TypeError if `ring` is not a ring
   * @throws Error if the ring already has a RingSender
   */
  constructor(ring: SharedArrayBuffer) {
    const views = ringViews(ring);
    attachEndpoint(views.slots, Slot.SENDER_ATTACHED, "RingSender");
    this.#slots = views.slots;
    this.#data = views.data;
    this.#capacity_bytes = views.capacity_bytes;
    this.#tail = Atomics.load(this.#slots, Slot.TAIL);
    this.#head_seen = Atomics.load(this.#slots, Slot.HEAD);
  }

  /** Size of the ring's data area in bytes. */
  get capacity_bytes(): number {
    return this.#capacity_bytes;
  }

  /**
   * Sends `message` now if it fits the free space whole, without waiting.
   *
   * @returns true if sent; false when the ring is too full (back-pressure), when earlier
   *   `send` calls are still waiting (sending now would overtake them), and always for a
   *   message larger than the ring can hold at once (`capacity_bytes - 8`): send that with
   *   `send` or `sendBlocking`, which fragment it
   * @throws ChannelClosedError if this sender was closed or the channel aborted
   * @throws RangeError for a message larger than {@link MAX_MESSAGE_BYTES}
   */
  trySend(message: Uint8Array): boolean {
    this.#checkSendable(message, "trySend");
    if (this.#pending_sends > 0) return false;
    const record_bytes = recordBytes(message.length);
    if (record_bytes > this.#freeBytes(false) && record_bytes > this.#freeBytes(true)) {
      return false;
    }
    this.#writeRecord(message, 0, message.length, message.length);
    return true;
  }

  /**
   * Sends `message`, waiting (with `Atomics.waitAsync`) while the ring is full. Messages larger
   * than the free space, even than the whole ring, go in fragments and arrive whole. Calls
   * made before the previous ones settle are sent in call order.
   *
   * @param timeout_ms give up after this long (default: wait as long as it takes); a message
   *   that timed out is not delivered, even if some of its fragments were written
   * @throws ChannelClosedError (rejection) if this sender was closed or the channel aborted
   * @throws ChannelTimeoutError (rejection) when `timeout_ms` ran out
   * @throws RangeError (rejection) for a message over {@link MAX_MESSAGE_BYTES}, a bad
   *   timeout, or more than {@link MAX_PENDING_SENDS} sends waiting at once
   */
  send(message: Uint8Array, timeout_ms?: number): Promise<void> {
    try {
      this.#checkSendable(message, "send");
      const deadline_ms = deadlineFor(timeout_ms, "send");
      const progress: SendProgress = { offset_bytes: 0, first: true };
      if (this.#pending_sends === 0 && this.#step(message, progress) === null) {
        return Promise.resolve();
      }
      if (this.#pending_sends >= MAX_PENDING_SENDS) {
        throw new RangeError(
          `send: ${MAX_PENDING_SENDS} sends are already waiting; await earlier sends first`,
        );
      }
      return this.#enqueue(() => this.#finishAsync(message, progress, deadline_ms, timeout_ms));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Sends `message`, blocking the thread (with `Atomics.wait`) while the ring is full. For
   * workers: on the main isolate it would stall the event loop.
   *
   * @param timeout_ms give up after this long (default: no limit); as for {@link send}
   * @throws ChannelClosedError if this sender was closed or the channel aborted
   * @throws ChannelTimeoutError when `timeout_ms` ran out
   * @throws Error if `send` calls of this sender are still pending (fragments would interleave)
   */
  sendBlocking(message: Uint8Array, timeout_ms?: number): void {
    this.#checkSendable(message, "sendBlocking");
    if (this.#pending_sends > 0) {
      throw new Error(
        `sendBlocking: ${this.#pending_sends} async send calls are still pending on this ` +
          "sender; await them first so that messages do not interleave",
      );
    }
    const deadline_ms = deadlineFor(timeout_ms, "sendBlocking");
    const progress: SendProgress = { offset_bytes: 0, first: true };
    for (let needs = this.#step(message, progress); needs !== null;) {
      throwIfPast(deadline_ms, "sendBlocking", timeout_ms);
      const signal = this.#prepareWait(needs);
      if (signal !== null) {
        waitBlocking(this.#slots, Slot.SPACE_SIGNAL, signal, remainingMs(deadline_ms));
        Atomics.store(this.#slots, Slot.SENDER_NEEDS_BYTES, 0);
      }
      needs = this.#step(message, progress);
    }
  }

  /**
   * Ends the stream: the receiver gets every message sent so far, then null. Pending `send`
   * calls finish first; later sends throw ChannelClosedError. Idempotent.
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#pending_sends === 0) this.#publishClose();
    else this.#queue_tail = this.#queue_tail.then(() => this.#publishClose());
  }

  #publishClose(): void {
    Atomics.compareExchange(this.#slots, Slot.STATE, RingState.OPEN, RingState.CLOSED);
    Atomics.add(this.#slots, Slot.DATA_SIGNAL, 1);
    Atomics.notify(this.#slots, Slot.DATA_SIGNAL);
  }

  #checkSendable(message: Uint8Array, what: string): void {
    if (!(message instanceof Uint8Array)) {
      throw new TypeError(`${what}: message must be a Uint8Array, got ${typeof message}`);
    }
    if (message.length > MAX_MESSAGE_BYTES) {
      throw new RangeError(
        `${what}: message of ${message.length} bytes is too large: at most ` +
          `${MAX_MESSAGE_BYTES} bytes allowed`,
      );
    }
    if (this.#closing) throw new ChannelClosedError(`${what}: this sender was closed`);
    throwIfAborted(this.#slots, what);
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    this.#pending_sends++;
    const run = this.#queue_tail.then(task).finally(() => {
      this.#pending_sends--;
    });
    this.#queue_tail = run.catch(() => {});
    return run;
  }

  async #finishAsync(
    message: Uint8Array,
    progress: SendProgress,
    deadline_ms: number,
    timeout_ms?: number,
  ): Promise<void> {
    for (let needs = this.#step(message, progress); needs !== null;) {
      throwIfPast(deadline_ms, "send", timeout_ms);
      const signal = this.#prepareWait(needs);
      if (signal !== null) {
        try {
          await waitAsync(this.#slots, Slot.SPACE_SIGNAL, signal, remainingMs(deadline_ms));
        } finally {
          Atomics.store(this.#slots, Slot.SENDER_NEEDS_BYTES, 0);
        }
      }
      needs = this.#step(message, progress);
    }
  }

  /**
   * Writes as much of the message as the plan allows now.
   *
   * @returns null when the whole message is in the ring, else the free bytes to wait for
   */
  #step(message: Uint8Array, progress: SendProgress): number | null {
    throwIfAborted(this.#slots, "send");
    for (let record = 0; record < MAX_RECORDS_PER_STEP; record++) {
      const remaining_bytes = message.length - progress.offset_bytes;
      if (remaining_bytes === 0 && !progress.first) return null;
      let fragment_bytes = planFragment(
        remaining_bytes,
        this.#freeBytes(false),
        this.#capacity_bytes,
      );
      if (fragment_bytes === null) {
        fragment_bytes = planFragment(remaining_bytes, this.#freeBytes(true), this.#capacity_bytes);
      }
      if (fragment_bytes === null) return neededFreeBytes(remaining_bytes, this.#capacity_bytes);
      const message_field = progress.first ? message.length : CONTINUATION;
      this.#writeRecord(message, progress.offset_bytes, fragment_bytes, message_field);
      progress.offset_bytes += fragment_bytes;
      progress.first = false;
    }
    return RECORD_HEADER_BYTES;
  }

  /** Free bytes from the last HEAD seen, or from a fresh read of HEAD. */
  #freeBytes(refresh: boolean): number {
    if (refresh) this.#head_seen = Atomics.load(this.#slots, Slot.HEAD);
    return freeBytes(this.#head_seen, this.#tail, this.#capacity_bytes);
  }

  /**
   * Announces that this side needs `needs_bytes` free, then re-checks.
   *
   * @returns the SPACE_SIGNAL value to wait on, or null when there is no need to wait
   */
  #prepareWait(needs_bytes: number): number | null {
    const signal = Atomics.load(this.#slots, Slot.SPACE_SIGNAL);
    Atomics.store(this.#slots, Slot.SENDER_NEEDS_BYTES, needs_bytes);
    const open = Atomics.load(this.#slots, Slot.STATE) === RingState.OPEN;
    if (this.#freeBytes(true) >= needs_bytes || !open) {
      Atomics.store(this.#slots, Slot.SENDER_NEEDS_BYTES, 0);
      return null;
    }
    return signal;
  }

  #writeRecord(
    message: Uint8Array,
    offset_bytes: number,
    fragment_bytes: number,
    message_field: number,
  ): void {
    const capacity_bytes = this.#capacity_bytes;
    const at = dataOffset(this.#tail, capacity_bytes);
    const slot = recordSlot(at);
    this.#slots[slot] = fragment_bytes;
    this.#slots[slot + 1] = message_field;
    let payload_at = at + RECORD_HEADER_BYTES;
    if (payload_at === capacity_bytes) payload_at = 0;
    const first_part_bytes = Math.min(fragment_bytes, capacity_bytes - payload_at);
    const end = offset_bytes + fragment_bytes;
    if (first_part_bytes === message.length) {
      this.#data.set(message, payload_at); // the common case: no view to allocate
    } else if (first_part_bytes === fragment_bytes) {
      this.#data.set(message.subarray(offset_bytes, end), payload_at);
    } else {
      const split = offset_bytes + first_part_bytes;
      this.#data.set(message.subarray(offset_bytes, split), payload_at);
      this.#data.set(message.subarray(split, end), 0);
    }
    this.#tail = advance(this.#tail, recordBytes(fragment_bytes), capacity_bytes);
    Atomics.store(this.#slots, Slot.TAIL, this.#tail);
    this.#wakeReceiver();
  }

  /** Wakes the receiver only if it said it may wait: no syscall on the hot path. */
  #wakeReceiver(): void {
    const slots = this.#slots;
    if (
      Atomics.load(slots, Slot.RECEIVER_WAITING) !== 0 &&
      Atomics.exchange(slots, Slot.RECEIVER_WAITING, 0) !== 0
    ) {
      Atomics.add(slots, Slot.DATA_SIGNAL, 1);
      Atomics.notify(slots, Slot.DATA_SIGNAL);
    }
  }
}
