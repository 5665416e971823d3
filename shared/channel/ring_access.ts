/**
 * Shared-memory access to one ring for the two endpoint classes: views, state, wake-ups and
 * the waits (blocking and async). The arithmetic lives in `ring_layout.ts`.
 *
 * @module
 */
import { ChannelClosedError, ChannelTimeoutError } from "./errors.ts";
import { HEADER_BYTES, ringCapacity, RingState, Slot } from "./ring_layout.ts";

/** Typed views over one ring. */
export interface RingViews {
  /** Int32 view of the whole buffer: header slots, and record headers at data offsets. */
  readonly slots: Int32Array;
  /** Byte view of the data area. */
  readonly data: Uint8Array;
  /** Size of the data area. */
  readonly capacity_bytes: number;
}

/** Validates `ring` and makes the views over it. */
export function ringViews(ring: SharedArrayBuffer): RingViews {
  const capacity_bytes = ringCapacity(ring);
  return {
    slots: new Int32Array(ring),
    data: new Uint8Array(ring, HEADER_BYTES, capacity_bytes),
    capacity_bytes,
  };
}

/**
 * Claims the ring's one producer or consumer place.
 *
 * @throws Error if another endpoint of the same kind already uses the ring
 */
export function attachEndpoint(slots: Int32Array, slot: number, kind: string): void {
  if (Atomics.compareExchange(slots, slot, 0, 1) !== 0) {
    throw new Error(
      `this ring already has a ${kind}: a ring carries one ${kind} and one peer; make a ` +
        "ring per producer/consumer pair",
    );
  }
}

/** Int32 index of the record header at a data offset. */
export function recordSlot(data_offset: number): number {
  return (HEADER_BYTES + data_offset) >> 2;
}

/** Why rings were aborted, for the error messages of the isolate that aborted them. */
const abort_reasons = new WeakMap<ArrayBufferLike, string>();

/**
 * Marks a ring aborted, so that both endpoints fail at once with ChannelClosedError, and wakes
 * anyone waiting on it. A ring its producer already closed keeps draining: what was sent
 * before a clean close is still delivered.
 *
 * @param ring a ring from createRing
 * @param reason why, e.g. "worker wal died: Error: disk full"; endpoints in this isolate put
 *   it in their ChannelClosedError
 * @returns true if this call aborted the ring, false if it was already closed or aborted
 * @example
 * ```ts
 * worker.addEventListener("error", (e) => abortRing(ring, `worker died: ${e.message}`));
 * ```
 */
export function abortRing(
  ring: SharedArrayBuffer,
  reason = "the peer died or was terminated",
): boolean {
  const { slots } = ringViews(ring);
  const previous = Atomics.compareExchange(slots, Slot.STATE, RingState.OPEN, RingState.ABORTED);
  if (previous === RingState.OPEN) abort_reasons.set(ring, reason);
  Atomics.add(slots, Slot.DATA_SIGNAL, 1);
  Atomics.notify(slots, Slot.DATA_SIGNAL);
  Atomics.add(slots, Slot.SPACE_SIGNAL, 1);
  Atomics.notify(slots, Slot.SPACE_SIGNAL);
  return previous === RingState.OPEN;
}

/** Throws ChannelClosedError if the ring was aborted; `who` names the endpoint. */
export function throwIfAborted(slots: Int32Array, who: string): void {
  if (Atomics.load(slots, Slot.STATE) === RingState.ABORTED) {
    const reason = abort_reasons.get(slots.buffer) ?? "the peer died or was terminated";
    throw new ChannelClosedError(`${who}: the channel was aborted: ${reason}`);
  }
}

/** Milliseconds left until `deadline_ms` (a `performance.now()` time), at least 0. */
export function remainingMs(deadline_ms: number): number {
  return deadline_ms === Infinity ? Infinity : Math.max(0, deadline_ms - performance.now());
}

/** The `performance.now()` time at which a wait of `timeout_ms` ends; Infinity for none. */
export function deadlineFor(timeout_ms: number | undefined, what: string): number {
  if (timeout_ms === undefined) return Infinity;
  if (typeof timeout_ms !== "number" || Number.isNaN(timeout_ms) || timeout_ms < 0) {
    throw new RangeError(`${what} timeout_ms ${timeout_ms} is invalid: allowed is a number >= 0`);
  }
  return performance.now() + timeout_ms;
}

/** Throws ChannelTimeoutError if `deadline_ms` has passed. */
export function throwIfPast(deadline_ms: number, what: string, timeout_ms?: number): void {
  if (deadline_ms !== Infinity && performance.now() >= deadline_ms) {
    throw new ChannelTimeoutError(`${what} timed out after ${timeout_ms} ms`);
  }
}

/** Interval of the timer that keeps the event loop alive during an async wait. */
const KEEPALIVE_INTERVAL_MS = 600_000;

/**
 * `Atomics.waitAsync` that keeps the event loop alive while it waits: a pending waitAsync alone
 * does not, and the isolate would exit (or a test would fail) with the wait unresolved.
 */
export async function waitAsync(
  slots: Int32Array,
  index: number,
  expected: number,
  timeout_ms: number,
): Promise<void> {
  const result = Atomics.waitAsync(slots, index, expected, timeout_ms);
  if (!result.async) return;
  const keepalive = setInterval(() => {}, KEEPALIVE_INTERVAL_MS);
  try {
    await result.value;
  } finally {
    clearInterval(keepalive);
  }
}

/** `Atomics.wait` with an Infinity-or-milliseconds timeout; blocks the thread (workers only). */
export function waitBlocking(
  slots: Int32Array,
  index: number,
  expected: number,
  timeout_ms: number,
): void {
  Atomics.wait(slots, index, expected, timeout_ms);
}
