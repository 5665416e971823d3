/**
 * The user-facing iterator: collapses the versions of each user key in a merged internal
 * stream into the newest one visible at a snapshot, and hides deleted keys (LevelDB's
 * db_iter.cc, one direction per iterator).
 *
 * @module
 */
import type { InternalIterator } from "./iterator.ts";
import type { TableFileMeta } from "./manifest.ts";
import {
  compareByteRanges,
  compareBytes,
  compareInternalKeys,
  lookupKey,
  MAX_SEQUENCE,
  sequenceOf,
  TRAILER_SIZE_BYTES,
  ValueType,
} from "./internal_key.ts";
import { ValuePool } from "./value_pool.ts";

/** Where scans cut the copies of the keys and values they yield (one isolate, one pool). */
const COPIES = new ValuePool();

/**
 * One visible key and its value: copies the caller owns. Each is a view of bytes of its own;
 * short ones share an underlying buffer with other copies, so write only within the view.
 */
export interface KeyValue {
  /** User key. */
  key: Uint8Array;
  /** Value. */
  value: Uint8Array;
}

/** A half-open user-key range [start, end); undefined bounds are open. */
export interface KeyRange {
  /** Smallest key included. */
  start?: Uint8Array;
  /** Smallest key excluded. */
  end?: Uint8Array;
}

/**
 * Turns a prefix into the equivalent key range: [prefix, successor) where successor is the
 * smallest key greater than every key with the prefix (undefined if none: all 0xff).
 */
export function prefixRange(prefix: Uint8Array): KeyRange {
  let last = prefix.length - 1;
  while (last >= 0 && prefix[last] === 0xff) last--;
  if (last < 0) return { start: prefix };
  const end = prefix.slice(0, last + 1);
  end[last]++;
  return { start: prefix, end };
}

/** Intersects two ranges. */
export function intersectRanges(a: KeyRange, b: KeyRange): KeyRange {
  const start = a.start === undefined
    ? b.start
    : b.start === undefined || compareBytes(a.start, b.start) >= 0
    ? a.start
    : b.start;
  const end = a.end === undefined
    ? b.end
    : b.end === undefined || compareBytes(a.end, b.end) <= 0
    ? a.end
    : b.end;
  return { start, end };
}

function userKeyView(ikey: Uint8Array): Uint8Array {
  return ikey.subarray(0, ikey.length - TRAILER_SIZE_BYTES);
}

function typeView(ikey: Uint8Array): ValueType {
  return ikey[ikey.length - TRAILER_SIZE_BYTES] as ValueType;
}

/** A one-way walk over visible entries: `next()` gives the next one, or undefined at the end. */
export interface EntryCursor {
  /** The next visible entry, or undefined when there are no more. */
  next(): KeyValue | undefined;
}

/**
 * The visible entries of `source` at `snapshot_sequence` within `range`, ascending (or
 * descending when `reverse`). Does not close `source`: {@link ScanIterator} does.
 */
export function visibleEntries(
  source: InternalIterator,
  snapshot_sequence: number,
  range: KeyRange,
  reverse: boolean,
): EntryCursor {
  if (!reverse) return new ForwardCursor(source, snapshot_sequence, range);
  const entries = backward(source, snapshot_sequence, range);
  return {
    next(): KeyValue | undefined {
      const step = entries.next();
      return step.done ? undefined : step.value;
    },
  };
}

/**
 * The iterator `Storage.scan` returns: at most `limit` entries, then it releases what it
 * pinned (its source iterators and table version). Releasing happens when the entries run
 * out, on `return()` (a `break` out of for-of), or on {@link ScanIterator.close}; an iterator
 * dropped without any of these keeps its tables pinned.
 *
 * @example
 * ```ts
 * for (const { key, value } of db.scan({ prefix })) if (done(key)) break; // released
 * ```
 */
export class ScanIterator implements IterableIterator<KeyValue> {
  readonly #entries: EntryCursor;
  #remaining: number;
  #on_close: (() => void) | null;

  /**
   * @param source merged internal entries; closed with the scan
   * @param on_close releases what the scan pinned (called once)
   */
  constructor(
    private readonly source: InternalIterator,
    snapshot_sequence: number,
    range: KeyRange,
    reverse: boolean,
    limit: number,
    on_close: () => void,
  ) {
    this.#entries = visibleEntries(source, snapshot_sequence, range, reverse);
    this.#remaining = limit;
    this.#on_close = on_close;
  }

  /** The next entry, or done. */
  next(): IteratorResult<KeyValue, undefined> {
    if (this.#on_close === null || this.#remaining <= 0) return this.return();
    let entry: KeyValue | undefined;
    try {
      entry = this.#entries.next();
    } catch (err) {
      this.close();
      throw err;
    }
    if (entry === undefined) return this.return();
    this.#remaining--;
    return { done: false, value: entry };
  }

  /** Ends the scan early and releases its pins. */
  return(): IteratorResult<KeyValue, undefined> {
    this.close();
    return { done: true, value: undefined };
  }

  /** Releases the scan's pins; later next() calls report done. Idempotent. */
  close(): void {
    const on_close = this.#on_close;
    if (on_close === null) return;
    this.#on_close = null;
    try {
      this.source.close();
    } finally {
      on_close();
    }
  }

  /** Same as close(), for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** The iterator itself, so it works in for-of and spread. */
  [Symbol.iterator](): this {
    return this;
  }
}

/**
 * The forward walk as a plain object rather than a generator: a scan spends most of its
 * time here, and resuming a generator per entry costs more than a method call.
 */
class ForwardCursor implements EntryCursor {
  #started = false;
  /** The user key whose older versions are shadowed (already returned or deleted). */
  #skip_key: Uint8Array | undefined;

  constructor(
    private readonly it: InternalIterator,
    private readonly snapshot_sequence: number,
    private readonly range: KeyRange,
  ) {}

  next(): KeyValue | undefined {
    const it = this.it;
    if (!this.#started) {
      this.#started = true;
      if (this.range.start === undefined) it.seekToFirst();
      else it.seek(lookupKey(this.range.start, this.snapshot_sequence));
    } else if (it.valid()) {
      it.next();
    }
    const end = this.range.end;
    for (; it.valid(); it.next()) {
      // Compared in place: this loop runs once per stored version, views would cost a lot.
      const ikey = it.key();
      const user_end = ikey.length - TRAILER_SIZE_BYTES;
      if (end !== undefined && compareByteRanges(ikey, 0, user_end, end, 0, end.length) >= 0) {
        return undefined;
      }
      if (trailerSequence(ikey, user_end) > this.snapshot_sequence) continue;
      const skip_key = this.#skip_key;
      if (
        skip_key !== undefined &&
        compareByteRanges(ikey, 0, user_end, skip_key, 0, skip_key.length) === 0
      ) continue;
      const key = COPIES.copyRange(ikey, 0, user_end);
      this.#skip_key = key;
      if (ikey[user_end] === ValueType.Deletion) continue;
      return { key, value: COPIES.copy(it.value()) };
    }
    return undefined;
  }
}

/** Sequence number from the trailer at `trailer_start` (see internal_key.ts). */
function trailerSequence(ikey: Uint8Array, trailer_start: number): number {
  const low = ikey[trailer_start + 1] | (ikey[trailer_start + 2] << 8) |
    (ikey[trailer_start + 3] << 16);
  const high = (ikey[trailer_start + 4] | (ikey[trailer_start + 5] << 8) |
    (ikey[trailer_start + 6] << 16) | (ikey[trailer_start + 7] << 24)) >>> 0;
  return high * 2 ** 24 + low;
}

function* backward(
  it: InternalIterator,
  snapshot_sequence: number,
  range: KeyRange,
): Generator<KeyValue, void, undefined> {
  positionBeforeEnd(it, range.end);
  // Walking backward, a user key's versions arrive oldest first: the last one visible at the
  // snapshot before the user key changes is the one to report.
  let saved: KeyValue | undefined;
  let saved_type = ValueType.Deletion;
  for (; it.valid(); it.prev()) {
    const ikey = it.key();
    const user_key = userKeyView(ikey);
    if (range.start !== undefined && compareBytes(user_key, range.start) < 0) break;
    if (sequenceOf(ikey) > snapshot_sequence) continue;
    if (saved !== undefined && compareBytes(user_key, saved.key) !== 0) {
      if (saved_type === ValueType.Value) yield saved;
      saved = undefined;
    }
    saved_type = typeView(ikey);
    saved = {
      key: saved?.key ?? COPIES.copy(user_key),
      value: saved_type === ValueType.Value ? COPIES.copy(it.value()) : EMPTY,
    };
  }
  if (saved !== undefined && saved_type === ValueType.Value) yield saved;
}

const EMPTY = new Uint8Array(0);

/** Positions `it` at the last entry whose user key is < end (or the very last entry). */
function positionBeforeEnd(it: InternalIterator, end: Uint8Array | undefined): void {
  if (end === undefined) {
    it.seekToLast();
    return;
  }
  // lookupKey(end, MAX_SEQUENCE) sorts before every entry of `end` itself.
  it.seek(lookupKey(end, MAX_SEQUENCE));
  if (it.valid()) it.prev();
  else it.seekToLast();
}

/**
 * Concatenates the tables of one sorted, non-overlapping level (1 and deeper) into one
 * iterator, opening each table's iterator only when the walk reaches it, so that a merge
 * has one child per level instead of one per table.
 *
 * @example
 * ```ts
 * const it = new LevelIterator(version.levels[2], (meta) => reader(meta).iterator());
 * ```
 */
export class LevelIterator implements InternalIterator {
  #index = -1;
  #child: InternalIterator | null = null;

  /**
   * @param files the level's tables, sorted by key, not overlapping
   * @param open opens an iterator over one table
   */
  constructor(
    private readonly files: readonly TableFileMeta[],
    private readonly open: (meta: TableFileMeta) => InternalIterator,
  ) {}

  /** Whether positioned at an entry. */
  valid(): boolean {
    return this.#child !== null && this.#child.valid();
  }

  /** Moves to the level's first entry. */
  seekToFirst(): void {
    this.#open_file(0)?.seekToFirst();
    this.#skip_forward();
  }

  /** Moves to the level's last entry. */
  seekToLast(): void {
    this.#open_file(this.files.length - 1)?.seekToLast();
    this.#skip_backward();
  }

  /** Moves to the first entry >= target, starting in the first table that may hold it. */
  seek(target: Uint8Array): void {
    let low = 0;
    let high = this.files.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (compareInternalKeys(this.files[mid].largest_key, target) < 0) low = mid + 1;
      else high = mid;
    }
    this.#open_file(low)?.seek(target);
    this.#skip_forward();
  }

  /** Moves to the next entry, crossing into the next table when needed. */
  next(): void {
    this.#valid_child("next").next();
    this.#skip_forward();
  }

  /** Moves to the previous entry, crossing into the previous table when needed. */
  prev(): void {
    this.#valid_child("prev").prev();
    this.#skip_backward();
  }

  /** Current internal key. */
  key(): Uint8Array {
    return this.#valid_child("key").key();
  }

  /** Current value. */
  value(): Uint8Array {
    return this.#valid_child("value").value();
  }

  /** Closes the open table iterator. */
  close(): void {
    this.#child?.close();
    this.#child = null;
    this.#index = -1;
  }

  #valid_child(operation: string): InternalIterator {
    if (this.#child === null || !this.#child.valid()) {
      throw new Error(`LevelIterator.${operation}: iterator is not valid`);
    }
    return this.#child;
  }

  /** Opens table `index` (closing the previous one); null when out of range. */
  #open_file(index: number): InternalIterator | null {
    if (index === this.#index && this.#child !== null) return this.#child;
    this.#child?.close();
    this.#child = null;
    this.#index = index;
    if (index < 0 || index >= this.files.length) return null;
    this.#child = this.open(this.files[index]);
    return this.#child;
  }

  #skip_forward(): void {
    // Bounded by the number of files: each pass moves to the next one.
    while (this.#child !== null && !this.#child.valid()) {
      this.#open_file(this.#index + 1)?.seekToFirst();
    }
  }

  #skip_backward(): void {
    while (this.#child !== null && !this.#child.valid()) {
      this.#open_file(this.#index - 1)?.seekToLast();
    }
  }
}
