/**
 * The block cache: a least-recently-used map from (file number, block offset) to a verified,
 * parsed block, bounded by the bytes the blocks hold.
 *
 * Entries are not reference-counted: an iterator that holds an evicted block keeps it alive
 * through the garbage collector, so eviction never invalidates a reader.
 *
 * @module
 */
import { StorageError } from "../errors.ts";
import type { Block } from "./block.ts";

/** Fixed bytes charged per entry on top of the block, for the node and map slots. */
export const ENTRY_OVERHEAD_BYTES = 64;

interface CacheNode {
  file_number: number;
  offset: number;
  block: Block;
  charge_bytes: number;
  newer: CacheNode | null;
  older: CacheNode | null;
}

/**
 * Bounded LRU of blocks shared by every table reader of a database.
 *
 * @example
 * ```ts
 * const cache = new BlockCache(32 << 20);
 * const reader = TableReader.open(fs, "db/000007.sst", 7, size_bytes, cache);
 * ```
 */
export class BlockCache {
  readonly #by_file = new Map<number, Map<number, CacheNode>>();
  #newest: CacheNode | null = null;
  #oldest: CacheNode | null = null;
  #usage_bytes = 0;
  #entry_count = 0;
  /** Lookups that found their block. */
  hits = 0;
  /** Lookups that did not. */
  misses = 0;

  /** @param capacity_bytes most bytes of blocks kept (0 keeps nothing) */
  constructor(readonly capacity_bytes: number) {
    if (!Number.isSafeInteger(capacity_bytes) || capacity_bytes < 0) {
      throw new StorageError(
        `block cache capacity must be a non-negative integer number of bytes, got ${capacity_bytes}`,
      );
    }
  }

  /** Bytes currently charged (blocks plus per-entry overhead). */
  usageBytes(): number {
    return this.#usage_bytes;
  }

  /** Number of cached blocks. */
  entryCount(): number {
    return this.#entry_count;
  }

  /** The cached block at (file_number, offset), marked most recently used; or undefined. */
  get(file_number: number, offset: number): Block | undefined {
    const node = this.#by_file.get(file_number)?.get(offset);
    if (node === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    if (node !== this.#newest) {
      this.#unlink(node);
      this.#linkNewest(node);
    }
    return node.block;
  }

  /**
   * Caches `block` as (file_number, offset), replacing any entry there, then evicts least
   * recently used entries until usage fits the capacity (a block larger than the whole cache
   * is evicted at once).
   */
  insert(file_number: number, offset: number, block: Block): void {
    const existing = this.#by_file.get(file_number)?.get(offset);
    if (existing !== undefined) this.#remove(existing, this.#by_file.get(file_number)!);
    let blocks = this.#by_file.get(file_number);
    if (blocks === undefined) {
      blocks = new Map();
      this.#by_file.set(file_number, blocks);
    }
    const node: CacheNode = {
      file_number,
      offset,
      block,
      charge_bytes: block.size_bytes + ENTRY_OVERHEAD_BYTES,
      newer: null,
      older: null,
    };
    blocks.set(offset, node);
    this.#linkNewest(node);
    this.#usage_bytes += node.charge_bytes;
    this.#entry_count++;
    this.#evictToCapacity();
  }

  /** Drops every block of `file_number` (call when its table file is deleted). */
  evictFile(file_number: number): void {
    const blocks = this.#by_file.get(file_number);
    if (blocks === undefined) return;
    for (const node of [...blocks.values()]) this.#remove(node, blocks);
  }

  #evictToCapacity(): void {
    // Bounded: each pass removes one entry.
    while (this.#usage_bytes > this.capacity_bytes && this.#oldest !== null) {
      const victim = this.#oldest;
      this.#remove(victim, this.#by_file.get(victim.file_number)!);
    }
  }

  #remove(node: CacheNode, blocks: Map<number, CacheNode>): void {
    this.#unlink(node);
    blocks.delete(node.offset);
    if (blocks.size === 0) this.#by_file.delete(node.file_number);
    this.#usage_bytes -= node.charge_bytes;
    this.#entry_count--;
  }

  #linkNewest(node: CacheNode): void {
    node.older = this.#newest;
    node.newer = null;
    if (this.#newest !== null) this.#newest.newer = node;
    this.#newest = node;
    if (this.#oldest === null) this.#oldest = node;
  }

  #unlink(node: CacheNode): void {
    if (node.newer !== null) node.newer.older = node.older;
    else this.#newest = node.older;
    if (node.older !== null) node.older.newer = node.newer;
    else this.#oldest = node.newer;
    node.newer = null;
    node.older = null;
  }
}
