/**
 * The decoded tail of the log, kept in memory so that replication to followers that keep up
 * never reads the disk. Bounded by bytes (data plus a per-entry overhead); the oldest entries
 * are evicted first, in O(1) per entry.
 *
 * @module
 */
import type { Entry } from "../core/mod.ts";

/** Heap bytes of a cached entry beside its data (object, array slot, buffer header). */
export const CACHED_ENTRY_OVERHEAD_BYTES = 160;

/** Evicted slots are reclaimed once they are this many and half the array. */
const COMPACT_AFTER_SLOTS = 4096;

/** Consecutive entries [first, first + length), bounded by bytes. */
export class EntryCache {
  #slots: (Entry | undefined)[] = [];
  #head = 0;
  #first = 1;
  #bytes = 0;

  /** @param capacity_bytes most bytes held (0 keeps nothing) */
  constructor(readonly capacity_bytes: number) {
    if (!(capacity_bytes >= 0)) {
      throw new RangeError(`cache capacity must be >= 0 bytes, got ${capacity_bytes}`);
    }
  }

  /** Entries held. */
  get length(): number {
    return this.#slots.length - this.#head;
  }

  /** Bytes accounted. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The entry at `index`, if cached. */
  get(index: number): Entry | undefined {
    const offset = index - this.#first;
    if (offset < 0 || offset >= this.length) return undefined;
    return this.#slots[this.#head + offset];
  }

  /** Adds entries after the cached ones (a gap or overlap restarts the cache at them). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    if (entries[0].index !== this.#first + this.length) this.clear(entries[0].index);
    for (const entry of entries) {
      this.#slots.push(entry);
      this.#bytes += sizeOf(entry);
    }
    // Bounded: each iteration evicts one entry.
    while (this.length > 0 && this.#bytes > this.capacity_bytes) this.#evictOldest();
    this.#reclaim();
  }

  /** Forgets entries at and after `index` (a truncated suffix). */
  truncateFrom(index: number): void {
    const keep = Math.max(0, index - this.#first);
    // Bounded by the number of entries held.
    while (this.length > keep) this.#bytes -= sizeOf(this.#slots.pop()!);
    if (this.length === 0) this.clear(index);
  }

  /** Forgets entries before `index` (compacted away). */
  dropBefore(index: number): void {
    // Bounded by the number of entries held.
    while (this.length > 0 && this.#first < index) this.#evictOldest();
    if (this.length === 0) this.#first = Math.max(this.#first, index);
    this.#reclaim();
  }

  /** Empties the cache; the next append may start at `next_index`. */
  clear(next_index: number): void {
    this.#slots = [];
    this.#head = 0;
    this.#bytes = 0;
    this.#first = next_index;
  }

  #evictOldest(): void {
    this.#bytes -= sizeOf(this.#slots[this.#head]!);
    this.#slots[this.#head] = undefined;
    this.#head++;
    this.#first++;
  }

  #reclaim(): void {
    if (this.#head >= COMPACT_AFTER_SLOTS && this.#head * 2 >= this.#slots.length) {
      this.#slots = this.#slots.slice(this.#head);
      this.#head = 0;
    }
  }
}

function sizeOf(entry: Entry): number {
  return entry.data.length + CACHED_ENTRY_OVERHEAD_BYTES;
}
