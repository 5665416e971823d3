/**
 * An in-memory {@link RaftLogReader} with the writes a driver performs, used by tests and the
 * simulator. Shaped like etcd-io/raft's MemoryStorage: `entries[0]` is a dummy entry holding
 * the snapshot's index and term.
 *
 * @module
 */
import {
  CompactedError,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type RaftLogReader,
  type Snapshot,
  UnavailableError,
} from "./types.ts";
import { limitSize } from "./raft_log.ts";

/** In-memory stable log: entries, hard state and latest snapshot. */
export class MemoryRaftStorage implements RaftLogReader {
  #hard_state: HardState = { term: 0, vote: null, commit: 0 };
  #snapshot: Snapshot;
  /** `#entries[0]` is the dummy at the snapshot index. */
  #entries: Entry[];

  /**
   * Create founding-member or joiner storage.
   *
   * @param conf_state bootstrap membership. With voters, the storage starts as a founding
   * member: a snapshot at index 1, term 1 holding the membership, and hard state term 1,
   * commit 1 (so a member that joins later learns the membership from a snapshot). Without,
   * it is an empty joiner that waits for the leader to send it a snapshot.
   */
  constructor(conf_state: ConfState = { voters: [], learners: [] }) {
    const founding = conf_state.voters.length > 0;
    const index = founding ? 1 : 0;
    this.#snapshot = {
      meta: { index, term: index, conf_state: cloneConfState(conf_state) },
      data: new Uint8Array(0),
    };
    this.#entries = [dummyEntry(index, index)];
    this.#hard_state = { term: index, vote: null, commit: index };
  }

  /** Persisted hard state and membership (as of the latest snapshot). */
  initialState(): { hard_state: HardState; conf_state: ConfState } {
    return {
      hard_state: { ...this.#hard_state },
      conf_state: cloneConfState(this.#snapshot.meta.conf_state),
    };
  }

  /** Persist the hard state. */
  setHardState(hard_state: HardState): void {
    this.#hard_state = { ...hard_state };
  }

  /** The persisted hard state. */
  hardState(): HardState {
    return { ...this.#hard_state };
  }

  /** Index of the first available entry. */
  firstIndex(): number {
    return this.#entries[0].index + 1;
  }

  /** Index of the last entry, or the snapshot index when there is none. */
  lastIndex(): number {
    return this.#entries[0].index + this.#entries.length - 1;
  }

  /** Term of entry `index` (the dummy's term at the snapshot index). */
  term(index: number): number {
    const offset = this.#entries[0].index;
    if (index < offset) throw new CompactedError(index);
    if (index - offset >= this.#entries.length) throw new UnavailableError(index);
    return this.#entries[index - offset].term;
  }

  /** Entries [lo, hi), size-limited (the first entry is always returned). */
  entries(lo: number, hi: number, max_bytes: number): Entry[] {
    const offset = this.#entries[0].index;
    if (lo <= offset) throw new CompactedError(lo);
    if (hi > this.lastIndex() + 1) throw new UnavailableError(hi - 1);
    if (lo > hi) throw new RangeError(`entries range is inverted: lo ${lo} > hi ${hi}`);
    return limitSize(this.#entries.slice(lo - offset, hi - offset), max_bytes);
  }

  /** The latest snapshot. */
  snapshot(): Snapshot {
    return this.#snapshot;
  }

  /** Replace everything with a snapshot received from the leader. */
  applySnapshot(snapshot: Snapshot): void {
    if (snapshot.meta.index < this.#snapshot.meta.index) {
      throw new RangeError(
        `snapshot index ${snapshot.meta.index} is older than ${this.#snapshot.meta.index}`,
      );
    }
    this.#snapshot = snapshot;
    this.#entries = [dummyEntry(snapshot.meta.index, snapshot.meta.term)];
  }

  /**
   * Record an application snapshot at `index` (≤ lastIndex) without dropping entries;
   * call {@link compact} to release the log before it.
   */
  createSnapshot(index: number, conf_state: ConfState, data: Uint8Array): Snapshot {
    if (index <= this.#snapshot.meta.index) return this.#snapshot;
    if (index > this.lastIndex()) {
      throw new RangeError(`snapshot index ${index} is beyond last index ${this.lastIndex()}`);
    }
    this.#snapshot = {
      meta: { index, term: this.term(index), conf_state: cloneConfState(conf_state) },
      data,
    };
    return this.#snapshot;
  }

  /** Drop entries up to and including `compact_index` (must be ≤ the snapshot index). */
  compact(compact_index: number): void {
    const offset = this.#entries[0].index;
    if (compact_index <= offset) return;
    if (compact_index > this.lastIndex()) {
      throw new RangeError(`compact index ${compact_index} beyond last ${this.lastIndex()}`);
    }
    const term = this.#entries[compact_index - offset].term;
    this.#entries = [
      dummyEntry(compact_index, term),
      ...this.#entries.slice(compact_index - offset + 1),
    ];
  }

  /** Append entries, truncating any existing suffix from the first new index. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last_new = entries[entries.length - 1].index;
    if (last_new < first) return; // entirely compacted already
    const trimmed = entries[0].index < first ? entries.slice(first - entries[0].index) : entries;
    const offset = trimmed[0].index - this.#entries[0].index;
    if (offset > this.#entries.length) {
      throw new RangeError(
        `append leaves a gap: last index ${this.lastIndex()}, first new ${trimmed[0].index}`,
      );
    }
    // In place: truncate any conflicting suffix, then push (appends are the hot path).
    this.#entries.length = offset;
    for (const entry of trimmed) this.#entries.push(entry);
  }
}

function dummyEntry(index: number, term: number): Entry {
  return { index, term, type: EntryType.Normal, data: new Uint8Array(0) };
}

function cloneConfState(conf_state: ConfState): ConfState {
  return { voters: [...conf_state.voters], learners: [...conf_state.learners] };
}
