/**
 * The memtable: recent writes, sorted by internal key, in memory until flushed to a table.
 *
 * A skip list (LevelDB's choice) rather than a B-tree: nodes never move, so an iterator
 * stays valid while writes continue into the same memtable (a scan over the active memtable
 * at a snapshot keeps walking as new entries are linked in). Level 0 is doubly linked so
 * `prev()` is O(1). Entries are never removed; a memtable is dropped whole after its flush.
 *
 * @module
 */
import type { InternalIterator } from "./iterator.ts";
import {
  compareByteRanges,
  compareInternalKeyRanges,
  sequenceOf,
  TRAILER_SIZE_BYTES,
  ValueType,
  writeTrailer,
} from "./internal_key.ts";

const MAX_HEIGHT = 12;
/** One in BRANCHING nodes reaches the next level. */
const BRANCHING = 4;
/** Rough bytes a node costs beyond its key and value (object, arrays, pointers). */
const NODE_OVERHEAD_BYTES = 96;

/** A skip-list node; internal to the memtable and its iterator. */
export class MemtableNode {
  /** Level-0 predecessor (the head for the first node). */
  prev: MemtableNode | null = null;
  readonly next: (MemtableNode | null)[];

  constructor(readonly ikey: Uint8Array, readonly value: Uint8Array, height: number) {
    this.next = new Array<MemtableNode | null>(height).fill(null);
  }
}

/** The newest entry of a user key visible at a snapshot. */
export interface MemtableHit {
  /** Value or deletion. */
  type: ValueType;
  /** Sequence number of the write. */
  sequence: number;
  /** The value (empty for a deletion). */
  value: Uint8Array;
}

/**
 * A sorted, append-only set of (internal key, value) entries.
 *
 * @example
 * ```ts
 * const mem = new Memtable();
 * mem.add(1, ValueType.Value, key, value);
 * mem.get(key, 1); // { type: ValueType.Value, sequence: 1, value }
 * ```
 */
export class Memtable {
  readonly #head = new MemtableNode(
    new Uint8Array(TRAILER_SIZE_BYTES),
    new Uint8Array(0),
    MAX_HEIGHT,
  );
  #height = 1;
  #tail: MemtableNode | null = null;
  #size_bytes = 0;
  #entry_count = 0;
  #random_state: number;
  #largest_sequence = 0;
  readonly #update: MemtableNode[] = new Array<MemtableNode>(MAX_HEIGHT);

  /** @param seed seed of the tower-height generator (fixed, so layouts replay exactly) */
  constructor(seed = 0x9e3779b9) {
    this.#random_state = seed >>> 0 || 1;
  }

  /** Approximate memory held, in bytes (keys, values and node overhead). */
  get sizeBytes(): number {
    return this.#size_bytes;
  }

  /** Number of entries. */
  get entryCount(): number {
    return this.#entry_count;
  }

  /** Largest sequence number added (0 when empty). */
  get largestSequence(): number {
    return this.#largest_sequence;
  }

  /**
   * Adds an entry. Key and value are copied. Each (user key, sequence) must be new: the write
   * path gives every operation its own sequence number.
   */
  add(sequence: number, type: ValueType, user_key: Uint8Array, value: Uint8Array): void {
    const ikey = new Uint8Array(user_key.length + TRAILER_SIZE_BYTES);
    ikey.set(user_key, 0);
    writeTrailer(ikey, user_key.length, sequence, type);
    const found = this.#find_greater_or_equal(ikey, this.#update);
    if (
      found !== null &&
      compareInternalKeyRanges(found.ikey, 0, found.ikey.length, ikey, 0, ikey.length) === 0
    ) {
      throw new Error(`memtable: duplicate internal key at sequence ${sequence}`);
    }
    const height = this.#random_height();
    if (height > this.#height) {
      for (let level = this.#height; level < height; level++) this.#update[level] = this.#head;
      this.#height = height;
    }
    const node = new MemtableNode(ikey, value.length === 0 ? EMPTY : value.slice(), height);
    for (let level = 0; level < height; level++) {
      node.next[level] = this.#update[level].next[level];
      this.#update[level].next[level] = node;
    }
    node.prev = this.#update[0];
    const successor = node.next[0];
    if (successor === null) this.#tail = node;
    else successor.prev = node;
    this.#size_bytes += ikey.length + value.length + NODE_OVERHEAD_BYTES + 8 * height;
    this.#entry_count++;
    if (sequence > this.#largest_sequence) this.#largest_sequence = sequence;
  }

  /**
   * The newest entry for `user_key` with sequence <= `snapshot_sequence`, or undefined when
   * this memtable has none (the caller then looks in older sources).
   */
  get(user_key: Uint8Array, snapshot_sequence: number): MemtableHit | undefined {
    const target = new Uint8Array(user_key.length + TRAILER_SIZE_BYTES);
    target.set(user_key, 0);
    writeTrailer(target, user_key.length, snapshot_sequence, ValueType.Value);
    const node = this.#find_greater_or_equal(target, null);
    if (node === null) return undefined;
    const user_end = node.ikey.length - TRAILER_SIZE_BYTES;
    if (compareByteRanges(node.ikey, 0, user_end, user_key, 0, user_key.length) !== 0) {
      return undefined;
    }
    return {
      type: node.ikey[user_end] as ValueType,
      sequence: sequenceOf(node.ikey),
      value: node.value,
    };
  }

  /** An iterator over all entries; it stays usable while entries are added. */
  iterator(): InternalIterator {
    return new MemtableIterator(this);
  }

  /** @internal first node with key >= target in internal order, or null. */
  findGreaterOrEqual(target: Uint8Array): MemtableNode | null {
    return this.#find_greater_or_equal(target, null);
  }

  /** @internal first node, or null. */
  first(): MemtableNode | null {
    return this.#head.next[0];
  }

  /** @internal last node, or null. */
  last(): MemtableNode | null {
    return this.#tail;
  }

  /** @internal whether `node` is the head sentinel. */
  isHead(node: MemtableNode | null): boolean {
    return node === this.#head;
  }

  #find_greater_or_equal(target: Uint8Array, update: MemtableNode[] | null): MemtableNode | null {
    let node: MemtableNode = this.#head;
    let level = this.#height - 1;
    for (;;) {
      const next = node.next[level];
      if (
        next !== null &&
        compareInternalKeyRanges(next.ikey, 0, next.ikey.length, target, 0, target.length) < 0
      ) {
        node = next;
        continue;
      }
      if (update !== null) update[level] = node;
      if (level === 0) return next;
      level--;
    }
  }

  #random_height(): number {
    let height = 1;
    while (height < MAX_HEIGHT && this.#next_random() % BRANCHING === 0) height++;
    return height;
  }

  /** xorshift32: cheap, deterministic, good enough for tower heights. */
  #next_random(): number {
    let x = this.#random_state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#random_state = x >>> 0;
    return this.#random_state;
  }
}

const EMPTY = new Uint8Array(0);

/** Walks a memtable's level-0 list. key() and value() are stable (never reused buffers). */
class MemtableIterator implements InternalIterator {
  #node: MemtableNode | null = null;

  constructor(readonly memtable: Memtable) {}

  valid(): boolean {
    return this.#node !== null;
  }

  seekToFirst(): void {
    this.#node = this.memtable.first();
  }

  seekToLast(): void {
    this.#node = this.memtable.last();
  }

  seek(target: Uint8Array): void {
    this.#node = this.memtable.findGreaterOrEqual(target);
  }

  next(): void {
    this.#node = this.#current().next[0];
  }

  prev(): void {
    const prev = this.#current().prev;
    this.#node = this.memtable.isHead(prev) ? null : prev;
  }

  key(): Uint8Array {
    return this.#current().ikey;
  }

  value(): Uint8Array {
    return this.#current().value;
  }

  close(): void {
    this.#node = null;
  }

  #current(): MemtableNode {
    if (this.#node === null) throw new Error("memtable iterator: not valid");
    return this.#node;
  }
}
