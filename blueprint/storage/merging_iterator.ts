/**
 * A k-way merge of sorted internal iterators into one, forward and backward, as LevelDB's
 * merger: the current child is the one with the smallest key (largest when moving
 * backward); switching direction re-seeks every other child around the current key.
 *
 * A linear scan picks the current child: merges have few children (memtables, the level-0
 * tables and one iterator per deeper level), where a heap would not pay for itself.
 *
 * @module
 */
import { StorageError } from "./errors.ts";
import { compareInternalKeys } from "./internal_key.ts";
import type { InternalIterator } from "./iterator.ts";

/** Most children one merge accepts. */
export const MAX_MERGE_CHILDREN = 4096;

type Direction = "forward" | "reverse";

/**
 * Merges `children` (each sorted by internal key). The engine's internal keys are unique
 * across children (every write has its own sequence); with a key present in several
 * children, a direction switch may step over its duplicates, as LevelDB's merger does.
 *
 * @example
 * ```ts
 * const it = new MergingIterator([memtable.iterator(), ...tables.map((t) => t.iterator())]);
 * for (it.seekToFirst(); it.valid(); it.next()) use(it.key(), it.value());
 * it.close(); // closes every child
 * ```
 */
export class MergingIterator implements InternalIterator {
  readonly #children: InternalIterator[];
  #current: InternalIterator | null = null;
  #direction: Direction = "forward";
  #closed = false;

  /** @param children sorted iterators; the merge owns them and closes them on close() */
  constructor(children: InternalIterator[]) {
    if (children.length > MAX_MERGE_CHILDREN) {
      throw new StorageError(
        `a merge takes at most ${MAX_MERGE_CHILDREN} iterators, got ${children.length}`,
      );
    }
    this.#children = [...children];
  }

  /** Whether the merge is at an entry. */
  valid(): boolean {
    return this.#current !== null;
  }

  /** Moves to the smallest key of all children. */
  seekToFirst(): void {
    this.#assertOpen("seekToFirst");
    for (const child of this.#children) child.seekToFirst();
    this.#findSmallest();
    this.#direction = "forward";
  }

  /** Moves to the largest key of all children. */
  seekToLast(): void {
    this.#assertOpen("seekToLast");
    for (const child of this.#children) child.seekToLast();
    this.#findLargest();
    this.#direction = "reverse";
  }

  /** Moves to the smallest key >= `target` over all children. */
  seek(target: Uint8Array): void {
    this.#assertOpen("seek");
    for (const child of this.#children) child.seek(target);
    this.#findSmallest();
    this.#direction = "forward";
  }

  /** Moves to the next key in merged order. */
  next(): void {
    const current = this.#assertValid("next");
    if (this.#direction !== "forward") {
      // Every other child is at its last key < key(); move each to its first key > key().
      const key = current.key();
      for (const child of this.#children) {
        if (child === current) continue;
        child.seek(key);
        if (child.valid() && compareInternalKeys(key, child.key()) === 0) child.next();
      }
      this.#direction = "forward";
    }
    current.next();
    this.#findSmallest();
  }

  /** Moves to the previous key in merged order. */
  prev(): void {
    const current = this.#assertValid("prev");
    if (this.#direction !== "reverse") {
      // Every other child is at its first key > key(); move each to its last key < key().
      const key = current.key();
      for (const child of this.#children) {
        if (child === current) continue;
        child.seek(key);
        if (child.valid()) child.prev();
        else child.seekToLast();
      }
      this.#direction = "reverse";
    }
    current.prev();
    this.#findLargest();
  }

  /** The current internal key. */
  key(): Uint8Array {
    return this.#assertValid("key").key();
  }

  /** The current value. */
  value(): Uint8Array {
    return this.#assertValid("value").value();
  }

  /** Closes every child. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current = null;
    for (const child of this.#children) child.close();
  }

  #findSmallest(): void {
    let smallest: InternalIterator | null = null;
    let smallest_key: Uint8Array | null = null;
    for (const child of this.#children) {
      if (!child.valid()) continue;
      const key = child.key();
      if (smallest_key === null || compareInternalKeys(key, smallest_key) < 0) {
        smallest = child;
        smallest_key = key;
      }
    }
    this.#current = smallest;
  }

  #findLargest(): void {
    let largest: InternalIterator | null = null;
    let largest_key: Uint8Array | null = null;
    for (let i = this.#children.length - 1; i >= 0; i--) {
      const child = this.#children[i];
      if (!child.valid()) continue;
      const key = child.key();
      if (largest_key === null || compareInternalKeys(key, largest_key) > 0) {
        largest = child;
        largest_key = key;
      }
    }
    this.#current = largest;
  }

  #assertOpen(operation: string): void {
    if (this.#closed) throw new StorageError(`MergingIterator.${operation} after close`);
  }

  #assertValid(operation: string): InternalIterator {
    this.#assertOpen(operation);
    if (this.#current === null) {
      throw new StorageError(
        `MergingIterator.${operation}: iterator is not positioned at an entry`,
      );
    }
    return this.#current;
  }
}
