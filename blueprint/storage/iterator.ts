/**
 * The iterator every sorted source in the engine exposes: table blocks, whole tables, the
 * memtable, and merges of them.
 *
 * @module
 */
import { StorageError } from "./errors.ts";

/**
 * A positioned cursor over internal keys (see `internal_key.ts`) in ascending internal order.
 *
 * `key()` and `value()` may return views into buffers that the iterator reuses: they are valid
 * until the next call that moves the iterator. Copy them (`slice()`) to keep them longer.
 * Never modify them. (Table iterators return keys that are fresh copies and values that are
 * views into immutable cached blocks, so those stay valid; other sources need not.)
 *
 * @example
 * ```ts
 * const it = table.iterator();
 * try {
 *   for (it.seekToFirst(); it.valid(); it.next()) use(it.key(), it.value());
 * } finally {
 *   it.close();
 * }
 * ```
 */
export interface InternalIterator {
  /** Whether the iterator is at an entry. */
  valid(): boolean;
  /** Moves to the first entry (invalid if empty). */
  seekToFirst(): void;
  /** Moves to the last entry (invalid if empty). */
  seekToLast(): void;
  /** Moves to the first entry with key >= `target` in internal order (invalid if none). */
  seek(target: Uint8Array): void;
  /** Moves to the next entry; only when valid(). */
  next(): void;
  /** Moves to the previous entry; only when valid(). */
  prev(): void;
  /** Internal key of the current entry; only when valid(). */
  key(): Uint8Array;
  /** Value of the current entry; only when valid(). */
  value(): Uint8Array;
  /** Releases pins (tables, cache handles). The iterator must not be used afterwards. */
  close(): void;
}

/** An iterator over nothing, for empty sources. */
export class EmptyIterator implements InternalIterator {
  /** Always false. */
  valid(): boolean {
    return false;
  }
  /** No-op. */
  seekToFirst(): void {}
  /** No-op. */
  seekToLast(): void {}
  /** No-op. */
  seek(_target: Uint8Array): void {}
  /** Throws: an empty iterator is never valid. */
  next(): void {
    throw new StorageError("EmptyIterator.next: iterator is not valid");
  }
  /** Throws: an empty iterator is never valid. */
  prev(): void {
    throw new StorageError("EmptyIterator.prev: iterator is not valid");
  }
  /** Throws: an empty iterator is never valid. */
  key(): Uint8Array {
    throw new StorageError("EmptyIterator.key: iterator is not valid");
  }
  /** Throws: an empty iterator is never valid. */
  value(): Uint8Array {
    throw new StorageError("EmptyIterator.value: iterator is not valid");
  }
  /** No-op. */
  close(): void {}
}
