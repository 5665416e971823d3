/**
 * The byte layout of a ring and the pure arithmetic on it (no atomics, no waiting), so that
 * every decision about space and positions is testable on its own.
 *
 * A ring is one SharedArrayBuffer: a header of Int32 slots, then a data area of
 * `capacity_bytes`. The consumer writes only the first header line and the producer only the
 * second, so the two sides do not invalidate each other's cache line on every message.
 *
 * Positions (`head`, `tail`) run modulo `2 * capacity_bytes`, which tells a full ring
 * (`tail - head == capacity`) from an empty one (`tail == head`) without a spare slot.
 *
 * A record is an 8-byte header `[fragment_bytes, message_bytes | CONTINUATION]` and its payload,
 * padded to 8 bytes. The header never wraps (positions and capacity are multiples of 8); the
 * payload may wrap around the data area's end and is then copied in two pieces. The first
 * fragment of a message carries the message's total size; later fragments carry CONTINUATION.
 *
 * @module
 */

/** Int32 slot indexes of the header. */
export const Slot = {
  /** Consumer's position (written by the consumer). */
  HEAD: 0,
  /** Bytes of free space the waiting producer needs; 0 = not waiting (both sides write). */
  SENDER_NEEDS_BYTES: 1,
  /** Bumped by the consumer to wake the producer; the producer waits on it. */
  SPACE_SIGNAL: 2,
  /** Producer's position (written by the producer). */
  TAIL: 16,
  /** 1 while the consumer is (about to be) waiting for data (both sides write). */
  RECEIVER_WAITING: 17,
  /** Bumped by the producer to wake the consumer; the consumer waits on it. */
  DATA_SIGNAL: 18,
  /** {@link RING_MAGIC}: tells a ring from any other SharedArrayBuffer. */
  MAGIC: 32,
  /** The data area's size in bytes. */
  CAPACITY: 33,
  /** One of {@link RingState}. */
  STATE: 34,
  /** 1 once a RingSender uses the ring: a second one would break single-producer order. */
  SENDER_ATTACHED: 35,
  /** 1 once a RingReceiver uses the ring. */
  RECEIVER_ATTACHED: 36,
} as const;

/** The ring's life: open, closed by its producer (drain then end), or aborted (peer died). */
export const RingState = {
  /** Messages flow. */
  OPEN: 0,
  /** The producer closed the ring: the consumer drains what is left, then sees the end. */
  CLOSED: 1,
  /** A side died or was terminated: both sides fail at once with ChannelClosedError. */
  ABORTED: 2,
} as const;

/** Marks a SharedArrayBuffer as a ring of this layout version ("RNG1"). */
export const RING_MAGIC = 0x524e4731;

/** Header size: three 64-byte cache lines. */
export const HEADER_BYTES = 192;

/** Size of a record's header: fragment_bytes and message_bytes, two Int32s. */
export const RECORD_HEADER_BYTES = 8;

/** Records start at multiples of this, so record headers are aligned Int32 pairs. */
export const RECORD_ALIGN_BYTES = 8;

/** `message_bytes` value of every fragment after the first. */
export const CONTINUATION = -1;

/** Smallest ring: room for a header and a few bytes of payload. */
export const MIN_CAPACITY_BYTES = 64;

/** Largest ring: positions modulo twice the capacity must fit in an Int32. */
export const MAX_CAPACITY_BYTES = 1 << 29;

/** Largest message a channel carries (the receiver allocates a message whole). */
export const MAX_MESSAGE_BYTES = 1 << 28;

/**
 * Allocates a ring with a data area of `capacity_bytes`.
 *
 * @param capacity_bytes a multiple of 8 from {@link MIN_CAPACITY_BYTES} to
 *   {@link MAX_CAPACITY_BYTES}; it bounds the bytes in flight (the back-pressure)
 * @returns the shared buffer to hand to one {@link RingSender} and one RingReceiver
 * @throws RangeError naming the bad capacity and the allowed range
 * @example
 * ```ts
 * const ring = createRing(1 << 20);
 * const sender = new RingSender(ring);
 * const receiver = new RingReceiver(ring);
 * ```
 */
export function createRing(capacity_bytes: number): SharedArrayBuffer {
  validateCapacity(capacity_bytes);
  const ring = new SharedArrayBuffer(HEADER_BYTES + capacity_bytes);
  const slots = new Int32Array(ring, 0, HEADER_BYTES / 4);
  slots[Slot.MAGIC] = RING_MAGIC;
  slots[Slot.CAPACITY] = capacity_bytes;
  slots[Slot.STATE] = RingState.OPEN;
  return ring;
}

/** Throws RangeError unless `capacity_bytes` is a valid ring capacity. */
export function validateCapacity(capacity_bytes: number): void {
  const valid = Number.isInteger(capacity_bytes) && capacity_bytes >= MIN_CAPACITY_BYTES &&
    capacity_bytes <= MAX_CAPACITY_BYTES && capacity_bytes % RECORD_ALIGN_BYTES === 0;
  if (!valid) {
    throw new RangeError(
      `ring capacity_bytes ${capacity_bytes} is invalid: allowed is a multiple of ` +
        `${RECORD_ALIGN_BYTES} from ${MIN_CAPACITY_BYTES} to ${MAX_CAPACITY_BYTES}`,
    );
  }
}

/**
 * Checks that `ring` was made by {@link createRing} and returns its data capacity.
 *
 * @throws TypeError naming what is wrong with the buffer
 */
export function ringCapacity(ring: SharedArrayBuffer): number {
  if (!(ring instanceof SharedArrayBuffer)) {
    throw new TypeError(`ring must be a SharedArrayBuffer from createRing, got ${typeof ring}`);
  }
  if (ring.byteLength < HEADER_BYTES + MIN_CAPACITY_BYTES) {
    throw new TypeError(`ring of ${ring.byteLength} bytes is too small to be from createRing`);
  }
  const slots = new Int32Array(ring, 0, HEADER_BYTES / 4);
  if (Atomics.load(slots, Slot.MAGIC) !== RING_MAGIC) {
    throw new TypeError("ring has no ring header: make it with createRing");
  }
  const capacity_bytes = Atomics.load(slots, Slot.CAPACITY);
  if (HEADER_BYTES + capacity_bytes !== ring.byteLength) {
    throw new TypeError(
      `ring header says capacity ${capacity_bytes} but the buffer has ${ring.byteLength} bytes`,
    );
  }
  validateCapacity(capacity_bytes);
  return capacity_bytes;
}

/** Bytes written and not yet consumed, given positions modulo `2 * capacity_bytes`. */
export function usedBytes(head: number, tail: number, capacity_bytes: number): number {
  const used = tail >= head ? tail - head : tail + 2 * capacity_bytes - head;
  return used;
}

/** Bytes the producer may write now. */
export function freeBytes(head: number, tail: number, capacity_bytes: number): number {
  return capacity_bytes - usedBytes(head, tail, capacity_bytes);
}

/** The position `bytes` after `position`, modulo `2 * capacity_bytes`. */
export function advance(position: number, bytes: number, capacity_bytes: number): number {
  const next = position + bytes;
  return next >= 2 * capacity_bytes ? next - 2 * capacity_bytes : next;
}

/** Offset in the data area of a position. */
export function dataOffset(position: number, capacity_bytes: number): number {
  return position >= capacity_bytes ? position - capacity_bytes : position;
}

/** Bytes a record with `payload_bytes` of payload occupies, header and padding included. */
export function recordBytes(payload_bytes: number): number {
  const padded = Math.ceil(payload_bytes / RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
  return RECORD_HEADER_BYTES + padded;
}

/**
 * The smallest fragment the producer cuts from a message that does not fit the free space:
 * a quarter of the ring, so a large message moves in few records rather than in slivers.
 */
export function minFragmentBytes(capacity_bytes: number): number {
  return Math.floor(capacity_bytes / 4 / RECORD_ALIGN_BYTES) * RECORD_ALIGN_BYTES;
}

/**
 * How many payload bytes of a message the producer should write now.
 *
 * The rest of the message goes whole when it fits; a message that does not fit is cut into a
 * fragment that fills the free space, but only once that space is at least
 * {@link minFragmentBytes} (so a message that fits the ring waits to go whole rather than in
 * slivers as the consumer frees a few bytes at a time).
 *
 * @param remaining_bytes payload bytes of the message still to write (0 for an empty message)
 * @param free_bytes the ring's free space now
 * @returns payload bytes to write in one record now, or null to wait for more space
 */
export function planFragment(
  remaining_bytes: number,
  free_bytes: number,
  capacity_bytes: number,
): number | null {
  if (recordBytes(remaining_bytes) <= free_bytes) return remaining_bytes;
  const room_bytes = Math.floor((free_bytes - RECORD_HEADER_BYTES) / RECORD_ALIGN_BYTES) *
    RECORD_ALIGN_BYTES;
  const fits_ring_whole = recordBytes(remaining_bytes) <= capacity_bytes;
  const threshold_bytes = fits_ring_whole
    ? Infinity
    : Math.min(remaining_bytes, minFragmentBytes(capacity_bytes));
  return room_bytes >= threshold_bytes && room_bytes > 0 ? room_bytes : null;
}

/** Bytes the producer must see free before {@link planFragment} returns a size. */
export function neededFreeBytes(remaining_bytes: number, capacity_bytes: number): number {
  const whole = recordBytes(remaining_bytes);
  if (whole <= capacity_bytes) return whole;
  return RECORD_HEADER_BYTES + minFragmentBytes(capacity_bytes);
}
