/**
 * The user-facing iterator: collapses the versions of each user key in a merged internal
 * stream into the newest one visible at a snapshot, and hides deleted keys (LevelDB's
 * db_iter.cc, one direction per iterator).
 *
 * @module
 */
import type { InternalIterator } from "./iterator.ts";
import {
  compareBytes,
  lookupKey,
  MAX_SEQUENCE,
  sequenceOf,
  TRAILER_SIZE_BYTES,
  ValueType,
} from "./internal_key.ts";

/** One visible key and its value; both are fresh copies the caller owns. */
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

/**
 * Yields the visible entries of `source` at `snapshot_sequence` within `range`, ascending
 * (or descending when `reverse`). Closes `source` and calls `on_close` when the generator
 * ends, is returned early, or throws.
 *
 * @example
 * ```ts
 * for (const { key, value } of visibleEntries(merged, 42, {}, false, () => version.unref())) {
 *   use(key, value);
 * }
 * ```
 */
export function* visibleEntries(
  source: InternalIterator,
  snapshot_sequence: number,
  range: KeyRange,
  reverse: boolean,
  on_close: () => void,
): Generator<KeyValue, void, undefined> {
  try {
    if (reverse) yield* backward(source, snapshot_sequence, range);
    else yield* forward(source, snapshot_sequence, range);
  } finally {
    try {
      source.close();
    } finally {
      on_close();
    }
  }
}

function* forward(
  it: InternalIterator,
  snapshot_sequence: number,
  range: KeyRange,
): Generator<KeyValue, void, undefined> {
  if (range.start === undefined) it.seekToFirst();
  else it.seek(lookupKey(range.start, snapshot_sequence));
  // The user key whose older versions are shadowed (already yielded or deleted).
  let skip_key: Uint8Array | undefined;
  for (; it.valid(); it.next()) {
    const ikey = it.key();
    const user_key = userKeyView(ikey);
    if (range.end !== undefined && compareBytes(user_key, range.end) >= 0) return;
    if (sequenceOf(ikey) > snapshot_sequence) continue;
    if (skip_key !== undefined && compareBytes(user_key, skip_key) === 0) continue;
    skip_key = user_key.slice();
    if (typeView(ikey) === ValueType.Deletion) continue;
    const value = it.value().slice();
    yield { key: skip_key, value };
  }
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
      key: saved?.key ?? user_key.slice(),
      value: saved_type === ValueType.Value ? it.value().slice() : EMPTY,
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
