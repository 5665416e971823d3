/**
 * The node's view of the log: the stable part read through {@link RaftLogReader} plus the
 * unstable suffix (and possibly a snapshot) not yet handed to the driver for persistence.
 * Ported in shape from etcd-io/raft's raftLog/unstable.
 *
 * @module
 */
import {
  CompactedError,
  type Entry,
  type RaftLogReader,
  type Snapshot,
  UnavailableError,
} from "./types.ts";

/** Payload bytes an entry counts for in size limits (data plus a fixed header). */
export function entrySizeBytes(entry: Entry): number {
  return entry.data.length + 16;
}

/** Keep a prefix of `entries` within `max_bytes`; the first entry is always kept. */
export function limitSize(entries: Entry[], max_bytes: number): Entry[] {
  if (entries.length === 0) return entries;
  let size = entrySizeBytes(entries[0]);
  let limit = 1;
  for (; limit < entries.length; limit++) {
    size += entrySizeBytes(entries[limit]);
    if (size > max_bytes) break;
  }
  return limit === entries.length ? entries : entries.slice(0, limit);
}

/** Entries and snapshot not yet persisted. `offset` is the index of `entries[0]`. */
export class Unstable {
  /** Snapshot received from the leader, not yet persisted. */
  snapshot: Snapshot | undefined;
  /** Entries not yet persisted, starting at `offset`. */
  entries: Entry[] = [];
  /** Index of `entries[0]` (last stable index + 1). */
  offset: number;

  /** Start empty after the stable log ending at `offset - 1`. */
  constructor(offset: number) {
    this.offset = offset;
  }

  /** First index if an unstable snapshot decides it. */
  maybeFirstIndex(): number | undefined {
    return this.snapshot ? this.snapshot.meta.index + 1 : undefined;
  }

  /** Last index if unstable entries or snapshot decide it. */
  maybeLastIndex(): number | undefined {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot ? this.snapshot.meta.index : undefined;
  }

  /** Term of `index` if the unstable part knows it. */
  maybeTerm(index: number): number | undefined {
    if (index < this.offset) {
      return this.snapshot?.meta.index === index ? this.snapshot.meta.term : undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || index > last) return undefined;
    return this.entries[index - this.offset].term;
  }

  /** Drop entries up to `index` once persisted (if still of `term`). */
  stableTo(index: number, term: number): void {
    const t = this.maybeTerm(index);
    if (t === undefined || t !== term || index < this.offset) return;
    this.entries = this.entries.slice(index + 1 - this.offset);
    this.offset = index + 1;
  }

  /** Drop the snapshot at `index` once persisted. */
  stableSnapTo(index: number): void {
    if (this.snapshot?.meta.index === index) this.snapshot = undefined;
  }

  /** Replace everything with `snapshot`. */
  restore(snapshot: Snapshot): void {
    this.offset = snapshot.meta.index + 1;
    this.entries = [];
    this.snapshot = snapshot;
  }

  /** Append `entries`, replacing any unstable suffix from their first index. */
  truncateAndAppend(entries: Entry[]): void {
    const after = entries[0].index;
    if (after === this.offset + this.entries.length) {
      this.entries = this.entries.concat(entries);
    } else if (after <= this.offset) {
      // The new entries replace everything unstable (the stable part is truncated by the
      // driver when it persists them).
      this.offset = after;
      this.entries = entries.slice();
    } else {
      this.entries = this.entries.slice(0, after - this.offset).concat(entries);
    }
  }

  /** Unstable entries [lo, hi). */
  slice(lo: number, hi: number): Entry[] {
    if (lo < this.offset || hi > this.offset + this.entries.length) {
      throw new RangeError(
        `unstable slice [${lo},${hi}) out of [${this.offset},${this.offset + this.entries.length}]`,
      );
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}

/** The log as one node sees it, with commit and apply positions. */
export class RaftLog {
  /** The persisted log. */
  readonly storage: RaftLogReader;
  /** Entries (and snapshot) not yet persisted. */
  readonly unstable: Unstable;
  /** Highest index known committed. */
  committed: number;
  /** Highest index handed to the application. */
  applied: number;

  /** Start from what `storage` holds. */
  constructor(storage: RaftLogReader) {
    this.storage = storage;
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    // A compacted log may keep entries before its snapshot; the snapshot is applied state.
    const base = Math.max(first - 1, storage.snapshot().meta.index);
    this.committed = base;
    this.applied = base;
  }

  /** First available index (after the latest snapshot). */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** Last index, unstable entries included. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Last index that is persisted (entries only; the unstable part excluded). */
  lastStableIndex(): number {
    return this.unstable.offset - 1;
  }

  /** Term of `index`, or 0 when it is compacted or beyond the log. */
  term(index: number): number {
    const dummy = this.firstIndex() - 1;
    if (index < dummy || index > this.lastIndex()) return 0;
    const t = this.unstable.maybeTerm(index);
    if (t !== undefined) return t;
    try {
      return this.storage.term(index);
    } catch (error) {
      if (error instanceof CompactedError || error instanceof UnavailableError) return 0;
      throw error;
    }
  }

  /** Whether `index` is readable (not compacted). */
  isAvailable(index: number): boolean {
    return index >= this.firstIndex() - 1 && index <= this.lastIndex();
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** Whether our entry at `index` has `term`. */
  matchTerm(index: number, term: number): boolean {
    if (!this.isAvailable(index)) return false;
    return this.term(index) === term;
  }

  /** §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(last_index: number, term: number): boolean {
    const our_term = this.lastTerm();
    return term > our_term || (term === our_term && last_index >= this.lastIndex());
  }

  /**
   * Follower side of AppendEntries: if our log matches (index, log_term), append the new
   * entries after resolving conflicts and return the last new index; otherwise undefined.
   */
  maybeAppend(
    index: number,
    log_term: number,
    committed: number,
    entries: Entry[],
  ): number | undefined {
    if (!this.matchTerm(index, log_term)) return undefined;
    const last_new = index + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      if (conflict <= this.committed) {
        throw new Error(
          `raft invariant: entry ${conflict} conflicts with committed ${this.committed}`,
        );
      }
      this.append(entries.slice(conflict - (index + 1)));
    }
    this.commitTo(Math.min(committed, last_new));
    return last_new;
  }

  /** Append at the end (or over an unstable/stable suffix); returns the new last index. */
  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const after = entries[0].index - 1;
    if (after < this.committed) {
      throw new Error(`raft invariant: append after ${after} is below commit ${this.committed}`);
    }
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /** First index whose term differs from ours (0 when none does within our log). */
  findConflict(entries: Entry[]): number {
    for (const entry of entries) {
      if (!this.matchTerm(entry.index, entry.term)) return entry.index;
    }
    return 0;
  }

  /**
   * Fast backtracking: the largest index ≤ `index` whose term is ≤ `term`, with its term.
   * Stops at the first unavailable index.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    const floor = this.firstIndex() - 1;
    for (; i >= floor; i--) {
      const t = this.term(i);
      if (t <= term) return { index: i, term: t };
    }
    return { index: floor, term: 0 };
  }

  /** Raise the commit index (never lowers it; never beyond the last index). */
  commitTo(commit: number): void {
    if (commit <= this.committed) return;
    if (commit > this.lastIndex()) {
      throw new Error(
        `raft invariant: commit ${commit} is beyond last index ${this.lastIndex()}`,
      );
    }
    this.committed = commit;
  }

  /** Commit `max_index` if it is from `term` (§5.4.2: only current-term entries by count). */
  maybeCommit(max_index: number, term: number): boolean {
    if (max_index > this.committed && this.term(max_index) === term) {
      this.commitTo(max_index);
      return true;
    }
    return false;
  }

  /** Record that entries up to `index` were handed to the application. */
  appliedTo(index: number): void {
    if (index === 0) return;
    if (index > this.committed || index < this.applied) {
      throw new Error(
        `raft invariant: applied ${index} out of [${this.applied}, ${this.committed}]`,
      );
    }
    this.applied = index;
  }

  /** Entries up to `index` (if still of `term`) are persisted. */
  stableTo(index: number, term: number): void {
    this.unstable.stableTo(index, term);
  }

  /** The unstable snapshot at `index` is persisted. */
  stableSnapTo(index: number): void {
    this.unstable.stableSnapTo(index);
  }

  /** Entries not yet persisted. */
  unstableEntries(): Entry[] {
    return this.unstable.entries;
  }

  /** Committed entries not yet applied, up to `max_bytes`. */
  nextCommittedEntries(max_bytes: number): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    if (this.committed + 1 <= lo) return [];
    return this.slice(lo, this.committed + 1, max_bytes);
  }

  /** Whether committed entries wait to be applied. */
  hasNextCommittedEntries(): boolean {
    return this.committed + 1 > Math.max(this.applied + 1, this.firstIndex());
  }

  /** Latest snapshot: the unstable one if present, else the storage's. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Entries from `lo` to the end, size-limited; throws CompactedError if `lo` is compacted. */
  entriesFrom(lo: number, max_bytes: number): Entry[] {
    if (lo > this.lastIndex()) return [];
    return this.slice(lo, this.lastIndex() + 1, max_bytes);
  }

  /** Entries [lo, hi), size-limited; throws CompactedError when lo is compacted. */
  slice(lo: number, hi: number, max_bytes: number): Entry[] {
    if (lo < this.firstIndex()) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo === hi) return [];
    let result: Entry[] = [];
    const offset = this.unstable.offset;
    if (lo < offset) {
      const stored_hi = Math.min(hi, offset);
      const stored = this.storage.entries(lo, stored_hi, max_bytes);
      if (stored.length < stored_hi - lo) return stored; // size limit hit
      result = stored;
    }
    if (hi > offset) {
      const fresh = this.unstable.slice(Math.max(lo, offset), hi);
      result = result.length > 0 ? result.concat(fresh) : fresh;
    }
    return limitSize(result, max_bytes);
  }

  /** Replace the log with a snapshot (follower install). */
  restore(snapshot: Snapshot): void {
    this.committed = snapshot.meta.index;
    this.unstable.restore(snapshot);
  }
}
