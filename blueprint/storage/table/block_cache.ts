/**
 * The block cache: a map from (file number, block offset) to a verified, parsed block whose
 * bytes live in large slabs, evicted a whole slab at a time, oldest first.
 *
 * Why slabs: a block read into its own `Uint8Array` is one ArrayBuffer, a native allocation
 * that V8 zero-fills and tracks one by one; with random reads missing the cache most of the
 * time, allocating and collecting them cost as much as the `pread` itself. Blocks are read
 * straight into the newest slab instead ({@link BlockCache.reserve}, then
 * {@link BlockCache.insert}), so one ArrayBuffer serves about sixty 4 KiB blocks.
 *
 * Why whole-slab eviction: a slab's memory returns only when none of its blocks is held, so
 * evicting single blocks would let a few long-lived ones pin many slabs. The ring of slabs is
 * first in, first out; a block found in the oldest quarter of a full ring is copied into the
 * newest slab (a second chance), so blocks in use outlive the slab they were read into, as
 * with least-recently-used eviction.
 *
 * Why slabs are recycled, and when: an evicted slab left to the garbage collector is external
 * memory V8 frees only at its next full collection, so random reads kept 60-110 MiB of dead
 * slabs besides a 32 MiB cache. A retired slab's buffer is reused for a new slab only at a
 * {@link BlockCache.safePoint} (the store calls it before each `get`: no block of this cache is
 * in use then) and only while no table iterator is open (an iterator may hold a block of any
 * slab). Otherwise it waits, and past a few waiting slabs the oldest is left to the collector,
 * so an iterator that is never closed costs memory, never a wrong byte.
 *
 * @module
 */
import { StorageError } from "../errors.ts";
import { Block } from "./block.ts";

/** Bytes of one slab of the cache (a block larger than this gets a slab of its own). */
export const DEFAULT_SLAB_BYTES = 256 << 10;
/** Bytes of the slabs for blocks read without caching (compaction inputs, long scans). */
const TRANSIENT_SLAB_BYTES = 256 << 10;
/** Blocks larger than this, read without caching, get their own buffer. */
const MAX_TRANSIENT_BLOCK_BYTES = TRANSIENT_SLAB_BYTES >> 2;
/** Retired slabs kept for reuse, at most (beyond this they go to the garbage collector). */
const MAX_RETIRED_SLABS = 8;

interface Slab {
  readonly bytes: Uint8Array;
  /** Bytes handed out, from the start; 8-byte aligned. */
  used_bytes: number;
  /** Entries whose bytes live here (some may since have been replaced or dropped). */
  readonly nodes: CacheNode[];
  /** Increases by one per slab created: tells how old a slab is. */
  readonly sequence: number;
}

interface CacheNode {
  readonly file_number: number;
  readonly offset: number;
  readonly block: Block;
  readonly slab: Slab;
}

/**
 * Bounded cache of blocks shared by every table reader of a database.
 *
 * @example
 * ```ts
 * const cache = new BlockCache(32 << 20);
 * const reader = TableReader.open(fs, "db/000007.sst", 7, size_bytes, cache);
 * ```
 */
export class BlockCache {
  readonly #by_file = new Map<number, Map<number, CacheNode>>();
  /** Oldest first. */
  #slabs: Slab[] = [];
  #slab_sequence = 0;
  #held_bytes = 0;
  #entry_count = 0;
  /** Size of a regular slab: the configured one, or the whole capacity when smaller. */
  readonly #slab_bytes: number;
  #transient = new Uint8Array(TRANSIENT_SLAB_BYTES);
  #transient_used_bytes = 0;
  /** Buffers of retired regular slabs, not yet safe to reuse. */
  #retired: Uint8Array[] = [];
  /** Buffers of retired regular slabs that no block in use can point into. */
  #reusable: Uint8Array[] = [];
  /** Table iterators reading through this cache that are not closed yet. */
  #open_iterators = 0;
  /** Slabs made from a recycled buffer instead of a new allocation. */
  recycled = 0;
  /** Lookups that found their block. */
  hits = 0;
  /** Lookups that did not. */
  misses = 0;
  /** Blocks copied into the newest slab to outlive the eviction of their own. */
  promotions = 0;

  /**
   * @param capacity_bytes most bytes of slabs held (0 keeps nothing)
   * @param slab_bytes size of one slab (smaller caches use one slab of their whole capacity)
   */
  constructor(readonly capacity_bytes: number, slab_bytes = DEFAULT_SLAB_BYTES) {
    if (!Number.isSafeInteger(capacity_bytes) || capacity_bytes < 0) {
      throw new StorageError(
        `block cache capacity must be a non-negative integer number of bytes, got ${capacity_bytes}`,
      );
    }
    if (!Number.isSafeInteger(slab_bytes) || slab_bytes < 8) {
      throw new StorageError(`block cache slab must be an integer of at least 8 bytes`);
    }
    this.#slab_bytes = Math.min(slab_bytes, capacity_bytes);
  }

  /** Bytes of the slabs currently held (the cache's memory). */
  usageBytes(): number {
    return this.#held_bytes;
  }

  /** Number of cached blocks. */
  entryCount(): number {
    return this.#entry_count;
  }

  /** A table iterator that reads through this cache was opened: pair with {@link iteratorClosed}. */
  iteratorOpened(): void {
    this.#open_iterators++;
  }

  /** A table iterator from {@link iteratorOpened} was closed. */
  iteratorClosed(): void {
    if (this.#open_iterators === 0) throw new StorageError("block cache: iterator closed twice");
    this.#open_iterators--;
  }

  /**
   * The caller promises that no block it got from this cache (or from
   * {@link BlockCache.transient}) is still in use, apart from open table iterators' blocks.
   * With no iterator open, retired slabs become reusable and the transient slab starts over.
   */
  safePoint(): void {
    if (this.#open_iterators !== 0) return;
    if (this.#retired.length > 0) {
      for (const bytes of this.#retired) this.#reusable.push(bytes);
      this.#retired = [];
      if (this.#reusable.length > MAX_RETIRED_SLABS) {
        this.#reusable.splice(0, this.#reusable.length - MAX_RETIRED_SLABS);
      }
    }
    this.#transient_used_bytes = 0;
  }

  /**
   * The cached block at (file_number, offset), or undefined. A block in the oldest quarter of
   * a full ring is first copied into the newest slab, so that it survives the next eviction.
   */
  get(file_number: number, offset: number): Block | undefined {
    const node = this.#by_file.get(file_number)?.get(offset);
    if (node === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (this.#near_eviction(node.slab)) {
      this.promotions++;
      return this.#place(file_number, offset, node.block);
    }
    return node.block;
  }

  /**
   * Room for a block of `size_bytes` (trailer included) in the newest slab, to read it into
   * before {@link BlockCache.insert}; a buffer of its own when the block cannot be cached.
   * The room is only lent: the next `reserve` hands out the same bytes unless `insert` took
   * them, so read, verify and insert before reserving again.
   */
  reserve(size_bytes: number): Uint8Array {
    if (!this.#cacheable(size_bytes)) return new Uint8Array(size_bytes);
    const slab = this.#slab_with_room(size_bytes);
    return slab.bytes.subarray(slab.used_bytes, slab.used_bytes + size_bytes);
  }

  /**
   * A buffer for a block read without caching: carved from a shared slab that is dropped
   * (never reused) when full, so most reads allocate no ArrayBuffer of their own.
   */
  transient(size_bytes: number): Uint8Array {
    if (size_bytes > MAX_TRANSIENT_BLOCK_BYTES) return new Uint8Array(size_bytes);
    if (this.#transient_used_bytes + size_bytes > TRANSIENT_SLAB_BYTES) {
      this.#transient = new Uint8Array(TRANSIENT_SLAB_BYTES);
      this.#transient_used_bytes = 0;
    }
    const start = this.#transient_used_bytes;
    this.#transient_used_bytes = alignUp8(start + size_bytes);
    return this.#transient.subarray(start, start + size_bytes);
  }

  /**
   * Caches `block` as (file_number, offset), replacing any entry there, and returns the block
   * as cached: `block` itself when its bytes were read into {@link BlockCache.reserve}'s
   * room, else a block over a copy in the newest slab (or `block` uncached when it is larger
   * than the whole cache). Evicts the oldest slabs as needed.
   */
  insert(file_number: number, offset: number, block: Block): Block {
    if (!this.#cacheable(block.data.length)) return block;
    return this.#place(file_number, offset, block);
  }

  /** Drops every block of `file_number` (call when its table file is deleted). */
  evictFile(file_number: number): void {
    const blocks = this.#by_file.get(file_number);
    if (blocks === undefined) return;
    this.#entry_count -= blocks.size;
    this.#by_file.delete(file_number);
  }

  #cacheable(size_bytes: number): boolean {
    return size_bytes <= this.capacity_bytes && this.capacity_bytes > 0;
  }

  /** Whether `slab` is among the oldest quarter of a ring that must evict to grow. */
  #near_eviction(slab: Slab): boolean {
    const slabs = this.#slabs;
    if (slabs.length < 2 || this.#held_bytes + this.#slab_bytes <= this.capacity_bytes) {
      return false;
    }
    return slab.sequence < slabs[0].sequence + Math.max(1, slabs.length >> 2);
  }

  /** Puts `block` into the newest slab (copying unless it is already there) and maps it. */
  #place(file_number: number, offset: number, block: Block): Block {
    const length = block.data.length;
    let slab = this.#slabs[this.#slabs.length - 1];
    const in_place = slab !== undefined && block.data.buffer === slab.bytes.buffer &&
      block.data.byteOffset === slab.bytes.byteOffset + slab.used_bytes;
    let placed = block;
    if (!in_place) {
      slab = this.#slab_with_room(length);
      const copy = slab.bytes.subarray(slab.used_bytes, slab.used_bytes + length);
      copy.set(block.data);
      placed = new Block(copy, block.path, block.file_offset);
    }
    slab.used_bytes = alignUp8(slab.used_bytes + length);
    const node: CacheNode = { file_number, offset, block: placed, slab };
    slab.nodes.push(node);
    let blocks = this.#by_file.get(file_number);
    if (blocks === undefined) {
      blocks = new Map();
      this.#by_file.set(file_number, blocks);
    }
    const size_before = blocks.size;
    blocks.set(offset, node);
    this.#entry_count += blocks.size - size_before;
    return placed;
  }

  /** The newest slab when it has `size_bytes` free; else a new one, evicting old ones. */
  #slab_with_room(size_bytes: number): Slab {
    const newest = this.#slabs[this.#slabs.length - 1];
    if (newest !== undefined && newest.used_bytes + size_bytes <= newest.bytes.length) {
      return newest;
    }
    const slab_size = Math.max(this.#slab_bytes, size_bytes);
    // Bounded: each pass drops one slab, and a cacheable block fits an empty cache.
    while (this.#held_bytes + slab_size > this.capacity_bytes && this.#slabs.length > 0) {
      this.#retire_oldest();
    }
    const recycled = slab_size === this.#slab_bytes ? this.#reusable.pop() : undefined;
    if (recycled !== undefined) this.recycled++;
    const slab: Slab = {
      bytes: recycled ?? new Uint8Array(slab_size),
      used_bytes: 0,
      nodes: [],
      sequence: this.#slab_sequence++,
    };
    this.#slabs.push(slab);
    this.#held_bytes += slab_size;
    return slab;
  }

  #retire_oldest(): void {
    const slab = this.#slabs.shift()!;
    this.#held_bytes -= slab.bytes.length;
    if (slab.bytes.length === this.#slab_bytes) {
      this.#retired.push(slab.bytes);
      if (this.#retired.length > MAX_RETIRED_SLABS) this.#retired.shift();
    }
    for (const node of slab.nodes) {
      const blocks = this.#by_file.get(node.file_number);
      // Entries replaced, promoted or dropped since no longer point here.
      if (blocks === undefined || blocks.get(node.offset) !== node) continue;
      blocks.delete(node.offset);
      this.#entry_count--;
      if (blocks.size === 0) this.#by_file.delete(node.file_number);
    }
  }
}

function alignUp8(value: number): number {
  return (value + 7) & ~7;
}
