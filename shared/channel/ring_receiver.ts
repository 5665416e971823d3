/**
 * The consuming end of a ring.
 *
 * @module
 */
import {
  advance,
  CONTINUATION,
  dataOffset,
  freeBytes,
  MAX_MESSAGE_BYTES,
  RECORD_HEADER_BYTES,
  recordBytes,
  RingState,
  Slot,
  usedBytes,
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

/** Most `receive` calls that may wait at once on one receiver; more is a caller bug. */
export const MAX_PENDING_RECEIVES = 4096;

/**
 * Messages up to this size are copied into a shared slab rather than each into an
 * ArrayBuffer of its own: allocating an ArrayBuffer per small message costs more than the
 * copy itself and would halve the ring's throughput.
 */
export const SLAB_MESSAGE_MAX_BYTES = 2048;

/** Size of one slab; it also bounds what one retained small message keeps alive. */
export const SLAB_BYTES = 32 * 1024;

/**
 * The consuming end of a ring: one per ring, used from one isolate. Every message returned is
 * a copy the caller owns, never a view of the shared ring. Messages of up to
 * {@link SLAB_MESSAGE_MAX_BYTES} are views into a slab of {@link SLAB_BYTES} shared with
 * other messages: read them through `byteOffset`/`byteLength` (not the whole `.buffer`), do not
 * transfer their buffer, and copy (`message.slice()`) what you keep for long, since a kept
 * message keeps its slab alive.
 *
 * @example
 * ```ts
 * const receiver = new RingReceiver(ring);
 * for (let m = await receiver.receive(); m !== null; m = await receiver.receive()) handle(m);
 * // null: the sender closed and everything it sent was received
 * ```
 */
export class RingReceiver {
  readonly #slots: Int32Array;
  readonly #data: Uint8Array;
  readonly #capacity_bytes: number;
  /** This side is the only writer of HEAD, so it keeps the true value locally. */
  #head: number;
  /** Last TAIL seen; re-read only when it says the ring is empty. */
  #tail_seen: number;
  /** A message arriving in fragments, and how many of its bytes are here. */
  #partial: Uint8Array | null = null;
  #partial_filled_bytes = 0;
  #pending_receives = 0;
  /** Current slab for small messages, and its first unused byte. */
  #slab = new Uint8Array(0);
  #slab_used_bytes = 0;
  #queue_tail: Promise<unknown> = Promise.resolve();

  /**
   * Becomes the consumer of `ring`.
   *
   * @param ring a buffer from createRing; exactly one RingReceiver may use it
   * @throws TypeError if `ring` is not a ring
   * @throws Error if the ring already has a RingReceiver
   */
  constructor(ring: SharedArrayBuffer) {
    const views = ringViews(ring);
    attachEndpoint(views.slots, Slot.RECEIVER_ATTACHED, "RingReceiver");
    this.#slots = views.slots;
    this.#data = views.data;
    this.#capacity_bytes = views.capacity_bytes;
    this.#head = Atomics.load(this.#slots, Slot.HEAD);
    this.#tail_seen = Atomics.load(this.#slots, Slot.TAIL);
  }

  /** Size of the ring's data area in bytes. */
  get capacity_bytes(): number {
    return this.#capacity_bytes;
  }

  /**
   * Takes the next whole message if one is here, without waiting.
   *
   * @returns the message, or null when none is complete now (also once closed and drained:
   *   `receive` tells those apart)
   * @throws ChannelClosedError if the channel was aborted (the peer died)
   */
  tryReceive(): Uint8Array | null {
    throwIfAborted(this.#slots, "tryReceive");
    return this.#take();
  }

  /**
   * Waits (with `Atomics.waitAsync`) for the next message. Calls made before earlier ones
   * settle are answered in call order.
   *
   * @param timeout_ms give up after this long (default: wait as long as it takes)
   * @returns the next message, or null once the sender closed and every message was received
   * @throws ChannelClosedError (rejection) if the channel was aborted (the peer died)
   * @throws ChannelTimeoutError (rejection) when `timeout_ms` ran out
   * @throws RangeError (rejection) for a bad timeout or more than {@link MAX_PENDING_RECEIVES}
   *   receives waiting at once
   */
  receive(timeout_ms?: number): Promise<Uint8Array | null> {
    try {
      const deadline_ms = deadlineFor(timeout_ms, "receive");
      if (this.#pending_receives === 0) {
        const outcome = this.#poll("receive");
        if (outcome !== undefined) return Promise.resolve(outcome);
      } else if (this.#pending_receives >= MAX_PENDING_RECEIVES) {
        throw new RangeError(
          `receive: ${MAX_PENDING_RECEIVES} receives are already waiting; await earlier ones`,
        );
      }
      this.#pending_receives++;
      const run = this.#queue_tail.then(() => this.#receiveAsync(deadline_ms, timeout_ms))
        .finally(() => {
          this.#pending_receives--;
        });
      this.#queue_tail = run.catch(() => {});
      return run;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Waits for the next message, blocking the thread (with `Atomics.wait`). For workers: on the
   * main isolate it would stall the event loop.
   *
   * @param timeout_ms give up after this long (default: no limit)
   * @returns the next message, or null once the sender closed and every message was received
   * @throws ChannelClosedError if the channel was aborted (the peer died)
   * @throws ChannelTimeoutError when `timeout_ms` ran out
   * @throws Error if `receive` calls of this receiver are still pending (it would overtake them)
   */
  receiveBlocking(timeout_ms?: number): Uint8Array | null {
    if (this.#pending_receives > 0) {
      throw new Error(
        `receiveBlocking: ${this.#pending_receives} async receive calls are still pending on ` +
          "this receiver; await them first so that messages go out in call order",
      );
    }
    const deadline_ms = deadlineFor(timeout_ms, "receiveBlocking");
    // Each pass returns, throws, or sleeps until the sender, a close, an abort or the deadline.
    for (;;) {
      const outcome = this.#poll("receiveBlocking");
      if (outcome !== undefined) return outcome;
      throwIfPast(deadline_ms, "receiveBlocking", timeout_ms);
      const signal = this.#prepareWait();
      if (signal !== null) {
        waitBlocking(this.#slots, Slot.DATA_SIGNAL, signal, remainingMs(deadline_ms));
        Atomics.store(this.#slots, Slot.RECEIVER_WAITING, 0);
      }
    }
  }

  async #receiveAsync(deadline_ms: number, timeout_ms?: number): Promise<Uint8Array | null> {
    // Each pass returns, throws, or sleeps until the sender, a close, an abort or the deadline.
    for (;;) {
      const outcome = this.#poll("receive");
      if (outcome !== undefined) return outcome;
      throwIfPast(deadline_ms, "receive", timeout_ms);
      const signal = this.#prepareWait();
      if (signal !== null) {
        try {
          await waitAsync(this.#slots, Slot.DATA_SIGNAL, signal, remainingMs(deadline_ms));
        } finally {
          Atomics.store(this.#slots, Slot.RECEIVER_WAITING, 0);
        }
      }
    }
  }

  /**
   * One look at the ring: a message, null for closed and drained, undefined for "wait".
   * The state is read before the data: a CLOSED seen first means TAIL is final.
   */
  #poll(what: string): Uint8Array | null | undefined {
    const state = Atomics.load(this.#slots, Slot.STATE);
    throwIfAborted(this.#slots, what);
    const message = this.#take();
    if (message !== null) return message;
    if (state === RingState.CLOSED && Atomics.load(this.#slots, Slot.TAIL) === this.#head) {
      this.#partial = null; // a message the sender abandoned (timed out) before closing
      return null;
    }
    return undefined;
  }

  /**
   * Announces that this side may wait, then re-checks.
   *
   * @returns the DATA_SIGNAL value to wait on, or null when there is no need to wait
   */
  #prepareWait(): number | null {
    const signal = Atomics.load(this.#slots, Slot.DATA_SIGNAL);
    Atomics.store(this.#slots, Slot.RECEIVER_WAITING, 1);
    const tail = Atomics.load(this.#slots, Slot.TAIL);
    if (tail !== this.#head || Atomics.load(this.#slots, Slot.STATE) !== RingState.OPEN) {
      Atomics.store(this.#slots, Slot.RECEIVER_WAITING, 0);
      return null;
    }
    return signal;
  }

  /** Consumes records until a message is whole or the ring is empty. */
  #take(): Uint8Array | null {
    // Each record frees space, and at most capacity / header records fit: a hard bound.
    const max_records = this.#capacity_bytes / RECORD_HEADER_BYTES;
    for (let record = 0; record < max_records; record++) {
      if (this.#tail_seen === this.#head) {
        this.#tail_seen = Atomics.load(this.#slots, Slot.TAIL);
        if (this.#tail_seen === this.#head) return null;
      }
      const message = this.#consumeRecord();
      if (message !== null) return message;
    }
    return null;
  }

  /** Consumes one record; returns the message it completes, if any. */
  #consumeRecord(): Uint8Array | null {
    const capacity_bytes = this.#capacity_bytes;
    const at = dataOffset(this.#head, capacity_bytes);
    const slot = recordSlot(at);
    const fragment_bytes = this.#slots[slot];
    const message_field = this.#slots[slot + 1];
    this.#checkRecord(fragment_bytes, message_field);
    let payload_at = at + RECORD_HEADER_BYTES;
    if (payload_at === capacity_bytes) payload_at = 0;
    let complete: Uint8Array | null = null;
    if (message_field !== CONTINUATION && fragment_bytes === message_field) {
      complete = this.#copyOut(payload_at, fragment_bytes);
    } else {
      if (message_field !== CONTINUATION) {
        // A new first fragment also discards a message its sender abandoned (timed out).
        this.#partial = new Uint8Array(message_field);
        this.#partial_filled_bytes = 0;
      }
      const partial = this.#partial as Uint8Array;
      this.#copyInto(partial, this.#partial_filled_bytes, payload_at, fragment_bytes);
      this.#partial_filled_bytes += fragment_bytes;
      if (this.#partial_filled_bytes === partial.length) {
        complete = partial;
        this.#partial = null;
      }
    }
    this.#head = advance(this.#head, recordBytes(fragment_bytes), capacity_bytes);
    Atomics.store(this.#slots, Slot.HEAD, this.#head);
    this.#wakeSender();
    return complete;
  }

  /** Asserts that a record header is one a correct sender could have written. */
  #checkRecord(fragment_bytes: number, message_field: number): void {
    const used_bytes = usedBytes(this.#head, this.#tail_seen, this.#capacity_bytes);
    const fits = fragment_bytes >= 0 && recordBytes(fragment_bytes) <= used_bytes;
    const first_ok = message_field >= fragment_bytes && message_field <= MAX_MESSAGE_BYTES;
    const continuation_ok = message_field === CONTINUATION && this.#partial !== null &&
      fragment_bytes > 0 &&
      this.#partial_filled_bytes + fragment_bytes <= this.#partial.length;
    if (!fits || !(first_ok || continuation_ok)) {
      throw new Error(
        `ring corrupted: record [fragment_bytes ${fragment_bytes}, message_bytes ` +
          `${message_field}] at position ${this.#head} with ${used_bytes} bytes used`,
      );
    }
  }

  #copyOut(payload_at: number, length_bytes: number): Uint8Array {
    const message = this.#allocate(length_bytes);
    this.#copyInto(message, 0, payload_at, length_bytes);
    return message;
  }

  /** A zeroed array for one message: a piece of the slab when small, else its own buffer. */
  #allocate(length_bytes: number): Uint8Array {
    if (length_bytes > SLAB_MESSAGE_MAX_BYTES) return new Uint8Array(length_bytes);
    if (this.#slab_used_bytes + length_bytes > this.#slab.length) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#slab_used_bytes = 0;
    }
    const at = this.#slab_used_bytes;
    this.#slab_used_bytes += length_bytes;
    return this.#slab.subarray(at, at + length_bytes);
  }

  #copyInto(target: Uint8Array, target_at: number, payload_at: number, length_bytes: number) {
    if (length_bytes === 0) return;
    const first_part_bytes = Math.min(length_bytes, this.#capacity_bytes - payload_at);
    target.set(this.#data.subarray(payload_at, payload_at + first_part_bytes), target_at);
    if (first_part_bytes < length_bytes) {
      target.set(
        this.#data.subarray(0, length_bytes - first_part_bytes),
        target_at + first_part_bytes,
      );
    }
  }

  /** Wakes the sender only if it waits for as much space as there now is. */
  #wakeSender(): void {
    const slots = this.#slots;
    const needs_bytes = Atomics.load(slots, Slot.SENDER_NEEDS_BYTES);
    if (needs_bytes === 0) return;
    const free_bytes = freeBytes(this.#head, this.#tail_seen, this.#capacity_bytes);
    if (
      free_bytes >= needs_bytes &&
      Atomics.compareExchange(slots, Slot.SENDER_NEEDS_BYTES, needs_bytes, 0) === needs_bytes
    ) {
      Atomics.add(slots, Slot.SPACE_SIGNAL, 1);
      Atomics.notify(slots, Slot.SPACE_SIGNAL);
    }
  }
}
